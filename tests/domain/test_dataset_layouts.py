"""The layouts datasets are distributed in: detected from a listing, parsed into samples, refused by name.

Listings are in memory (the layouts read paths and small text files only; no image is opened).
"""

from __future__ import annotations

import pytest

from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.layouts import detect_layout, parse_layout, parse_shard_files
from tests.domain import dataset_files as make
from tests.domain.dataset_files import memory_listing, shuffled


@pytest.mark.parametrize(
    ("files", "layout"),
    [
        (make.image_folder(), "imagefolder"),
        (make.image_folder(root="photos/"), "imagefolder"),
        (make.cub200(), "cub200"),
        (make.cub200(root=""), "cub200"),
        (make.imagenet("kaggle"), "imagenet"),
        (make.imagenet("devkit"), "imagenet"),
        (make.imagenet("per_class", root=""), "imagenet"),
        (make.shards(), "shards"),
    ],
)
def test_each_layout_is_detected(files, layout):
    assert detect_layout(memory_listing(shuffled(files))) == layout


def test_a_listing_in_no_layout_is_refused_naming_the_layouts():
    with pytest.raises(IngestionError) as refused:
        detect_layout(memory_listing({"notes.txt": b"x", "pictures/a.jpg": make.image_bytes(0, 0)}))
    assert refused.value.code == "unknown_layout"
    assert "s3://test/src/" in refused.value.message and "train/<class>/<image>" in refused.value.message


def test_image_folder_classes_sorted_samples_by_class_then_path_hidden_and_other_files_ignored():
    files = make.image_folder(("zebra", "ant"), train=2, val=1)
    files |= {
        "train/ant/.DS_Store": b"",
        "train/ant/notes.txt": b"x",
        "__MACOSX/train/ant/._a.jpg": b"",
        "train/x.jpg": b"",
    }
    parsed = parse_layout(memory_listing(shuffled(files)), "imagefolder")
    assert parsed.classes == ("ant", "zebra")
    assert [(s.split, s.label, s.path) for s in parsed.samples] == [
        ("train", 0, "train/ant/ant_000.jpg"),
        ("train", 0, "train/ant/ant_001.jpg"),
        ("train", 1, "train/zebra/zebra_000.jpg"),
        ("train", 1, "train/zebra/zebra_001.jpg"),
        ("val", 0, "val/ant/ant_000.jpg"),
        ("val", 1, "val/zebra/zebra_000.jpg"),
    ]


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        (lambda f: {p: d for p, d in f.items() if not p.startswith("val/")}, "layout_mismatch", "val/<class>/<image>"),
        (lambda f: f | {"val/bird/b.jpg": b"x"}, "layout_mismatch", "bird"),
        (lambda f: f | {"train/bird/readme.txt": b"x"}, "empty_class", "train/bird/"),
    ],
    ids=["no val split", "a val class train lacks", "a class without images"],
)
def test_image_folder_refusals_name_what_is_wrong(change, code, named):
    with pytest.raises(IngestionError) as refused:
        parse_layout(memory_listing(change(make.image_folder())), "imagefolder")
    assert refused.value.code == code and named in refused.value.message


def test_cub200_classes_by_id_test_split_as_val_and_missing_images_as_bad_files():
    files = make.cub200(classes=3, per_class=4)
    missing = "CUB_200_2011/images/002.Bird_2/Bird_2_0001.jpg"
    del files[missing]
    parsed = parse_layout(memory_listing(shuffled(files)), "cub200")
    assert parsed.root == "CUB_200_2011/"
    assert parsed.classes == ("001.Bird_1", "002.Bird_2", "003.Bird_3")
    train = [s for s in parsed.samples if s.split == "train"]
    val = [s for s in parsed.samples if s.split == "val"]
    assert (len(train), len(val)) == (8, 3)  # the fourth image of each class is a test image; one went missing
    assert all(s.path.endswith("_0003.jpg") for s in val) and all(s.box is None for s in parsed.samples)
    assert [(b.path, b.reason) for b in parsed.bad_files] == [(missing, "listed in images.txt but not in the source")]


def test_cub200_with_crop_to_boxes_gives_each_sample_its_box_and_needs_bounding_boxes_txt():
    parsed = parse_layout(memory_listing(make.cub200()), "cub200", crop_to_boxes=True)
    assert {s.box for s in parsed.samples} == {(4.0, 2.0, 20.0, 16.0)}
    with pytest.raises(IngestionError) as refused:
        parse_layout(memory_listing(make.cub200(boxes=False)), "cub200", crop_to_boxes=True)
    assert "CUB_200_2011/bounding_boxes.txt (crop_to_boxes needs it)" in refused.value.message
    with pytest.raises(IngestionError, match="crop_to_boxes applies to the cub200 layout"):
        parse_layout(memory_listing(make.image_folder()), "imagefolder", crop_to_boxes=True)


@pytest.mark.parametrize(
    ("name", "content", "named"),
    [
        ("train_test_split.txt", None, "CUB_200_2011/train_test_split.txt missing"),
        ("classes.txt", b"1 001.Bird_1\n", "which CUB_200_2011/classes.txt does not name"),
        ("image_class_labels.txt", b"1 1\n1 2\n", "line 2: id 1 appears twice"),
        ("images.txt", b"1\n", "images.txt line 1: expected an id and 1 value(s)"),
    ],
)
def test_cub200_files_that_do_not_match_are_refused_naming_the_file(name, content, named):
    files = make.cub200()
    if content is None:
        del files[f"CUB_200_2011/{name}"]
    else:
        files[f"CUB_200_2011/{name}"] = content
    with pytest.raises(IngestionError) as refused:
        parse_layout(memory_listing(files), "cub200")
    assert refused.value.code == "layout_mismatch" and named in refused.value.message


@pytest.mark.parametrize("val", ["kaggle", "devkit", "per_class"])
def test_imagenet_classes_are_sorted_wnids_named_by_their_words_and_val_labels_follow_the_label_files(val):
    parsed = parse_layout(memory_listing(shuffled(make.imagenet(val))), "imagenet")
    assert parsed.root == "ILSVRC/Data/CLS-LOC/"
    assert parsed.classes == make.WORDS  # the synset mapping (kaggle, per_class) or meta.mat's words (devkit)
    val_samples = [s for s in parsed.samples if s.split == "val"]
    assert [s.label for s in val_samples] == [0, 0, 1, 1, 2, 2]
    # the generator numbered the val images class by class: images 1-2 are class 0, 3-4 class 1, 5-6 class 2
    assert [s.path.rsplit("_", 1)[1] for s in val_samples] == [f"{n:08d}.JPEG" for n in range(1, 7)]
    assert not parsed.bad_files


def test_imagenet_flat_val_images_without_a_label_are_bad_files():
    files = make.imagenet("kaggle")
    files["ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000099.JPEG"] = make.image_bytes(0, 9)
    parsed = parse_layout(memory_listing(files), "imagenet")
    assert [(b.path, b.reason) for b in parsed.bad_files] == [
        ("ILSVRC/Data/CLS-LOC/val/ILSVRC2012_val_00000099.JPEG", "has no label in LOC_val_solution.csv")
    ]


def test_imagenet_ground_truth_without_meta_mat_is_refused_naming_meta_mat():
    files = {p: d for p, d in make.imagenet("devkit").items() if not p.endswith("meta.mat")}
    with pytest.raises(IngestionError) as refused:
        parse_layout(memory_listing(files), "imagenet")
    assert "meta.mat" in refused.value.message and "missing" in refused.value.message


def test_imagenet_flat_val_without_any_label_file_and_non_wnid_folders_are_refused():
    files = {p: d for p, d in make.imagenet("kaggle").items() if not p.startswith("LOC_")}
    with pytest.raises(IngestionError, match="LOC_val_solution.csv nor ILSVRC2012_validation_ground_truth.txt"):
        parse_layout(memory_listing(files), "imagenet")
    with pytest.raises(IngestionError, match="train/cat/ is not named by a WordNet id"):
        parse_layout(memory_listing(make.image_folder()), "imagenet")


def test_shards_layout_lists_tars_per_split_and_classes_in_file_order():
    files = make.shards(("zebra", "ant"), train=6, val=2, root="export/")
    layout = parse_shard_files(memory_listing(shuffled(files)))
    assert layout.root == "export/" and layout.classes == ("zebra", "ant")
    assert layout.train == tuple(sorted(p for p in files if p.startswith("export/train/")))
    assert layout.val == ("export/val/val-000000.tar",)
    files["export/classes.txt"] = b"zebra\nzebra\n"
    with pytest.raises(IngestionError, match="names class 'zebra' twice"):
        parse_shard_files(memory_listing(files))

import pytest

from sdd_core.data import DatasetInfo, build_datasets, describe_dataset, is_known_dataset, list_datasets
from sdd_core.errors import DataError


def test_list_datasets():
    assert list_datasets() == ["cifar10", "cifar100", "digits"]


@pytest.mark.parametrize("name", ["digits", "cifar10", "cifar100", "imagefolder:/data/cub", "imagefolder:rel"])
def test_known_names(name):
    assert is_known_dataset(name)


@pytest.mark.parametrize("name", ["mnist", "imagefolder:", "imagefolder:  ", "", "Digits", "cifar"])
def test_unknown_names(name):
    assert not is_known_dataset(name)


def test_unknown_name_raises_data_error_listing_the_choices(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'mnist'.*cifar10, cifar100, digits"):
        build_datasets("mnist", data_root=tmp_path)


@pytest.mark.parametrize("size", [0, 4, 2.5, True])
def test_bad_image_size_is_refused(tmp_path, size):
    with pytest.raises(DataError, match="image_size"):
        describe_dataset("digits", data_root=tmp_path, image_size=size)


def test_info_to_dict_is_json_ready():
    info = DatasetInfo(
        name="x", num_classes=2, classes=["a", "b"], image_size=32, train_size=10, val_size=4,
        mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6),
    )  # fmt: skip
    assert info.to_dict() == {
        "name": "x",
        "num_classes": 2,
        "classes": ["a", "b"],
        "image_size": 32,
        "mean": [0.1, 0.2, 0.3],
        "std": [0.4, 0.5, 0.6],
        "train_size": 10,
        "val_size": 4,
    }

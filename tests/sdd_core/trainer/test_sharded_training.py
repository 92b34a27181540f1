"""Training from a sharded dataset: exact resume on the loader path with and without workers, the
device path equal to the image folder's, checkpoints naming the data by its digest, two ranks
reading disjoint slices of the single process's batches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sdd_core.data.shard_writer import shard_image_folder
from sdd_core.spec import JobSpec
from sdd_core.trainer import CheckpointError, TrainCallbacks, TrainOptions, load_checkpoint, train
from sdd_core.trainer.data_path import prepare_data
from sdd_core.trainer.distributed import launch
from tests.sdd_core.data.generated_images import image_folder

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _importable_by_ranks(monkeypatch):
    """Spawned ranks import this module by name: the repository root on their path."""
    root = str(Path(__file__).resolve().parents[3])
    monkeypatch.syspath_prepend(root)
    monkeypatch.setenv("PYTHONPATH", root)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """24 training and 6 validation images of 16 px, 3 classes."""
    return image_folder(tmp_path_factory.mktemp("colours") / "colours", train=8, val=2)


@pytest.fixture(scope="module")
def shards(folder) -> Path:
    """The folder as shards of 3 images, in the folder's order."""
    out = folder.parent / "shards"
    shard_image_folder(folder, out, max_bytes=10240, shuffle_seed=None)
    return out


def _spec(dataset: str, **fields) -> JobSpec:
    hyperparameters = {"epochs": 2, "batch_size": 8, "lr": 0.05, "lr_decay_epochs": [2], "flip": True}
    return JobSpec(dataset=dataset, student="resnet8", method="ce", seed=4, hyperparameters=hyperparameters, **fields)


class StopAt:
    """should_stop answering True once, after (epoch, batch)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.point: tuple[int, int] | None = (epoch, batch)
        self.at = (0, 0)

    def callbacks(self) -> TrainCallbacks:
        def on_batch_end(epoch, batch, batches, parts):
            self.at = (epoch, batch)

        def should_stop():
            if self.at != self.point:
                return False
            self.point = None
            return True

        return TrainCallbacks(on_batch_end=on_batch_end, should_stop=should_stop)


def _same_weights(a: Path, b: Path) -> None:
    first, second = load_file(str(a)), load_file(str(b))
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def _loader_options(root: Path, workers: int) -> TrainOptions:
    return TrainOptions(data_root=root, device_data_max_bytes=0, num_workers=workers)


def test_a_stopped_run_resumes_to_the_uninterrupted_weights_with_and_without_workers(shards, tmp_path):
    spec = _spec(f"shards:{shards}")
    seen: list[dict] = []
    full = train(spec, tmp_path / "full", options=_loader_options(tmp_path, 0),
                 callbacks=TrainCallbacks(on_epoch_end=seen.append))  # fmt: skip
    assert [m["data_path"] for m in seen] == ["loader", "loader"]
    for workers in (0, 2):
        out = tmp_path / f"part{workers}"
        stopper = StopAt(2, 1)
        part = train(spec, out, options=_loader_options(tmp_path, workers), callbacks=stopper.callbacks())
        assert part.status == "stopped" and (part.stopped_at.epoch, part.stopped_at.batch) == (2, 1)
        done = train(spec, out, options=_loader_options(tmp_path, workers), resume_from=part.checkpoint_path)
        assert done.status == "completed"
        _same_weights(full.student_path, done.student_path)
        assert done.final["train_loss"] == full.final["train_loss"]


def test_the_device_path_from_shards_trains_as_from_the_image_folder(folder, shards, tmp_path):
    seen: list[dict] = []
    options = TrainOptions(data_root=tmp_path)
    from_folder = train(_spec(f"imagefolder:{folder}"), tmp_path / "folder", options=options)
    from_shards = train(_spec(f"shards:{shards}"), tmp_path / "shards", options=options,
                        callbacks=TrainCallbacks(on_epoch_end=seen.append))  # fmt: skip
    assert [m["data_path"] for m in seen] == ["device", "device"]
    _same_weights(from_folder.student_path, from_shards.student_path)


def test_a_checkpoint_names_the_data_by_digest_so_another_copy_resumes_and_other_data_does_not(
    folder, shards, tmp_path
):
    stopper = StopAt(1, 2)
    part = train(_spec(f"shards:{shards}"), tmp_path / "run", options=TrainOptions(data_root=tmp_path),
                 callbacks=stopper.callbacks())  # fmt: skip
    recorded = load_checkpoint(part.checkpoint_path)["spec"]["dataset"]
    assert recorded.startswith("shards@sha256:") and str(shards) not in recorded
    # Another node's cache: the same index and shards at another path.
    copy = tmp_path / "node2" / "cache"
    shutil.copytree(shards, copy)
    resumed = train(_spec(f"shards:{copy}"), tmp_path / "run", options=TrainOptions(data_root=tmp_path),
                    resume_from=part.checkpoint_path)  # fmt: skip
    assert resumed.status == "completed"
    # Other data at the first path: refused.
    other = tmp_path / "other"
    shard_image_folder(folder, other, max_bytes=20480, shuffle_seed=None)
    with pytest.raises(CheckpointError, match="another job spec"):
        train(_spec(f"shards:{other}"), tmp_path / "run2", options=TrainOptions(data_root=tmp_path),
              resume_from=part.checkpoint_path)  # fmt: skip


def _rank_reads(rank: int, spec_json: str, out_dir: str, data_root: str) -> None:
    """One of two ranks: its training batches through the trainer's data path (the shards read
    logged), then a training run that rank 0 stops after two batches."""
    spec = JobSpec.model_validate_json(spec_json)
    options = TrainOptions(data_root=Path(data_root), device_data_max_bytes=0, num_workers=0, world_size=2, rank=rank)
    batches, reads = _loader_batches(spec, options)
    torch.save({"batches": batches, "reads": reads}, Path(out_dir, f"rank{rank}.pt"))
    stopper = StopAt(1, 2)
    result = train(spec, Path(out_dir, "run"), options=options, callbacks=stopper.callbacks() if rank == 0 else None)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"status": result.status}))


def _loader_batches(spec: JobSpec, options: TrainOptions) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[int]]:
    """The first epoch's training batches of the loader path, and the samples it read."""
    hp = spec.resolved_hyperparameters
    data = prepare_data(spec.dataset, hp, image_size=None, seed=spec.seed, options=options, device=CPU,
                        memory_format=torch.contiguous_format)  # fmt: skip
    assert data.path == "loader"
    items = data.train.loader.dataset  # type: ignore[attr-defined]  # SeededItems over the ShardedImages
    sharded, reads = items.dataset, []

    class Logged(torch.utils.data.Dataset):
        def __len__(self):
            return len(sharded)

        def __getitem__(self, index):
            reads.append(index)
            return sharded[index]

    items.dataset = Logged()
    try:
        return [(images, labels) for images, labels in data.train.batches(seed=11)], reads
    finally:
        data.close()


def test_two_ranks_read_disjoint_slices_of_the_single_process_batches(shards, tmp_path):
    spec = _spec(f"shards:{shards}", devices=2)
    alone, _ = _loader_batches(spec, TrainOptions(data_root=tmp_path, device_data_max_bytes=0, num_workers=0))
    launch(_rank_reads, 2, spec.model_dump_json(), str(tmp_path), str(tmp_path))

    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    assert len(alone) == len(ranks[0]["batches"]) == len(ranks[1]["batches"]) == 3
    for (images, labels), first, second in zip(alone, ranks[0]["batches"], ranks[1]["batches"], strict=True):
        assert torch.equal(torch.cat([first[0], second[0]]), images)
        assert torch.equal(torch.cat([first[1], second[1]]), labels)
    reads = [set(rank["reads"]) for rank in ranks]
    assert not reads[0] & reads[1] and len(reads[0] | reads[1]) == 24
    # In training too each rank trained its slice only: the partial sums count the global batches.
    outcomes = [json.loads((tmp_path / f"rank{rank}.json").read_text())["status"] for rank in (0, 1)]
    assert outcomes == ["stopped", "stopped"]
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["partial"]["sums"]["images"] == 2 * 8

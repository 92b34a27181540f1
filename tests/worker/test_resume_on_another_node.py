"""A checkpoint written on one node resumes on another whose cached inputs live at other paths."""

from __future__ import annotations

import torch

from sdd_core.spec import JobSpec
from sdd_core.trainer.checkpoint import load_checkpoint, save_checkpoint
from worker.job_artifacts import ResumePoint
from worker.resumption import REBASED_CHECKPOINT, rebase_on_this_node


def _spec(root: str, student: str = "resnet8") -> JobSpec:
    return JobSpec(
        dataset=f"imagefolder:{root}/cache/trees/{'a' * 64}",
        student=student,
        method="kd",
        teacher={"arch": "resnet20", "checkpoint": f"{root}/cache/files/{'b' * 64}"},
        init={"checkpoint": f"{root}/cache/files/{'c' * 64}"},  # a warm start
    )


def _written_on(tmp_path, spec: JobSpec) -> ResumePoint:
    path = tmp_path / "epoch_0003.pt"
    save_checkpoint(path, {"epoch": 3, "model": {"w": torch.arange(4.0)}, "spec": spec.model_dump(mode="json")})
    return ResumePoint(epoch=3, path=path)


def test_the_input_paths_become_this_nodes(tmp_path) -> None:
    resume = _written_on(tmp_path, _spec("/node_a"))
    work = tmp_path / "work"
    work.mkdir()
    here = _spec("/node_b")
    rebased = rebase_on_this_node(resume, here, work)
    assert rebased == ResumePoint(epoch=3, path=work / REBASED_CHECKPOINT)
    state = load_checkpoint(rebased.path)
    assert state["spec"]["dataset"] == here.dataset
    assert state["spec"]["teacher"]["checkpoint"] == here.teacher.checkpoint
    assert state["spec"]["init"] == {"checkpoint": f"/node_b/cache/files/{'c' * 64}"}
    assert torch.equal(state["model"]["w"], torch.arange(4.0)) and state["epoch"] == 3


def test_same_paths_or_another_job_leave_the_checkpoint_alone(tmp_path) -> None:
    resume = _written_on(tmp_path, _spec("/node_a"))
    assert rebase_on_this_node(resume, _spec("/node_a"), tmp_path) is resume
    # Another student is another job: the paths are rebased, but the trainer still refuses it.
    rebased = rebase_on_this_node(resume, _spec("/node_b", student="resnet14"), tmp_path)
    assert load_checkpoint(rebased.path)["spec"]["student"] == "resnet8"

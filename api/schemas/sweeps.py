"""Sweep schemas: ``SweepCreate`` (the request) and ``SweepPublic``/``SweepsPublic``.

``SweepCreate`` is the domain's ``SweepRequest`` (``domain.sweeps.sweep_request``) with the examples the
OpenAPI document shows. The report has no schema here: the API serves ``domain.sweeps.sweep_report``'s
dataclasses as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page, UtcDatetime
from api.schemas.jobs import JobPublic
from domain.status import JobStatus
from domain.sweeps.sweep_reads import SweepView
from domain.sweeps.sweep_request import SweepRequest

_SWEEP_EXAMPLE: dict[str, Any] = {
    "name": "kd-vs-sd-kd on digits",
    "base": {
        "dataset": "digits",
        "student": "resnet8",
        "teacher": {"job": "job_3f9c0a1b2c3d4e5f60718293"},
        "method": "kd",
        "hyperparameters": {"epochs": 30},
    },
    "grid": {"method": ["kd", "sd-kd"], "beta": [1, 2, 4], "scales": [[1, 2], [1, 2, 4]], "seed": [0, 1, 2]},
    "metadata": {"study": "beta and scales"},
}


_SEARCH_EXAMPLE: dict[str, Any] = {
    "name": "β and T on digits",
    "base": {**_SWEEP_EXAMPLE["base"], "method": "sd-kd"},
    "search": {
        "trials": 9,
        "space": {"beta": {"low": 0.5, "high": 8, "log": True}, "temperature": {"low": 1, "high": 8},
                  "scales": [[1, 2], [1, 2, 4]]},
        "pruning": {"min_epochs": 1, "reduction_factor": 3},
    },
}  # fmt: skip


class SweepCreate(SweepRequest):
    """A sweep to run: ``base`` (a job, as POST /v1/jobs takes it) with the ``grid``'s fields varied, or
    with ``search``'s trials drawn and pruned."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_SWEEP_EXAMPLE, _SEARCH_EXAMPLE]})


class MemberCounts(BaseModel):
    """How many members are in each status."""

    queued: int = 0
    running: int = 0
    cancelling: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    pruned: int = 0


class SweepProgress(BaseModel):
    """Epochs finished over epochs planned, summed over the members, and the members by status."""

    epoch: int = Field(description="Epochs finished, summed over the members.", examples=[36])
    epochs: int = Field(description="Epochs planned, summed over the members.", examples=[360])
    fraction: float = Field(description="epoch / epochs (0 to 1).", examples=[0.1])
    members: MemberCounts


class SweepRequestPublic(BaseModel):
    """The sweep as submitted: the base job (every field as parsed) and the grid's varied fields, or the
    search; POST /v1/sweeps takes it back as it is (a search draws the same trials again)."""

    base: dict[str, Any]
    grid: dict[str, list[Any]] | None = None
    search: dict[str, Any] | None = None


class SweepGroupPublic(BaseModel):
    """A lockstep group: members that draw the same batches (they agree on ``sdd_core.lockstep``'s fields)."""

    key: str
    members: list[str] = Field(description="The member jobs' ids.")


class SweepSummaryPublic(BaseModel):
    """A sweep without its members' details: what lists show."""

    id: str
    name: str | None
    status: JobStatus = Field(
        description="Derived from the members: queued (all queued), cancelling (every unfinished member is), "
        "running (some unfinished), succeeded (all, or all but a search's pruned trials), failed (all finished, "
        "some failed), cancelled (all finished, none failed, some cancelled)."
    )
    progress: SweepProgress
    request: SweepRequestPublic
    trials: list[dict[str, Any]] | None = Field(
        None, description="A search's trials, in order: the values drawn for each (null for a grid)."
    )
    metadata: dict[str, Any] | None
    member_count: int
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @classmethod
    def fields_of(cls, view: SweepView) -> dict[str, Any]:
        sweep, progress = view.sweep, view.progress
        return {
            "id": sweep.id,
            "name": sweep.name,
            "status": view.status,
            "progress": SweepProgress(
                epoch=progress.epoch,
                epochs=progress.epochs,
                fraction=progress.fraction,
                members=MemberCounts(**progress.members),
            ),
            "request": SweepRequestPublic.model_validate(
                {key: value for key, value in sweep.request.items() if key != "trials"}
            ),
            "trials": sweep.request.get("trials"),
            "metadata": sweep.metadata_,
            "member_count": len(view.members),
            "created_at": sweep.created_at,
            "updated_at": sweep.updated_at,
        }

    @classmethod
    def from_view(cls, view: SweepView) -> SweepSummaryPublic:
        return cls(**cls.fields_of(view))


class SweepPublic(SweepSummaryPublic):
    """A sweep and its member jobs (each a normal job, also in GET /v1/jobs?sweep_id=…)."""

    members: list[JobPublic] = Field(description="The member jobs, in the grid's order (the seed varies fastest).")
    groups: list[SweepGroupPublic] = Field(description="The members' lockstep groups.")

    @classmethod
    def from_view(cls, view: SweepView) -> SweepPublic:
        return cls(
            **cls.fields_of(view),
            members=[JobPublic.from_row(job) for job in view.members],
            groups=[SweepGroupPublic(key=key, members=ids) for key, ids in view.groups.items()],
        )


class SweepsPublic(Page):
    data: list[SweepSummaryPublic]

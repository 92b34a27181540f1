"""What the client adds to its generated models: a few convenience properties and methods.

``sdd_client.generated_models`` is generated from the server's OpenAPI document; the generator
(``scripts/generate_client_models.py``) makes the classes below their bases, so a job read from any
answer (a page of jobs, a sweep's members) has ``is_terminal``, ``label`` and the rest. The fields
these methods read are declared for the type checker only: the generated subclass declares them
for pydantic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from sdd_client.job_status import TERMINAL, JobStatus

if TYPE_CHECKING:
    from sdd_client.generated_models import ConfigurationReport, JobSpecPublic, Progress


class JobMethods(BaseModel):
    """Base of ``JobPublic`` (``sdd_client.models.Job``)."""

    if TYPE_CHECKING:
        id: str
        name: str | None
        status: JobStatus
        spec: JobSpecPublic
        progress: Progress

    @property
    def is_terminal(self) -> bool:
        """Succeeded, failed or cancelled: the job will not change any more."""
        return self.status in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED

    @property
    def label(self) -> str:
        """The job's name, else its id: how tables and legends show it."""
        return self.name or self.id

    @property
    def teacher_label(self) -> str:
        """``job:<id>``, ``model:<id>``, ``pretrained:<arch>`` or ``-``."""
        teacher = self.spec.teacher
        if teacher is None:
            return "-"
        if teacher.arch:
            return f"pretrained:{teacher.arch}"
        return f"job:{teacher.job}" if teacher.job else f"model:{teacher.model}"


class ProgressMethods(BaseModel):
    """Base of ``Progress``, a job's progress."""

    if TYPE_CHECKING:
        batch: int | None
        batches: int | None

    @property
    def epoch_fraction(self) -> float:
        """The epoch in progress's share done, from its batches (0 when not reported)."""
        return self.batch / self.batches if self.batch is not None and self.batches else 0.0


class SweepMethods(BaseModel):
    """Base of ``SweepSummaryPublic`` and ``SweepPublic``."""

    if TYPE_CHECKING:
        status: JobStatus

    @property
    def is_terminal(self) -> bool:
        """Every member succeeded, failed or was cancelled."""
        return self.status in TERMINAL


class SweepReportMethods(BaseModel):
    """Base of ``SweepReport``."""

    if TYPE_CHECKING:
        configurations: list[ConfigurationReport]

    def configuration_of(self, job_id: str) -> ConfigurationReport | None:
        """The configuration a member job belongs to."""
        return next((c for c in self.configurations if job_id in c.members), None)


class SubmissionMethods(BaseModel):
    """Base of ``JobCreate`` (``sdd_client.models.JobSubmission``), a job to submit."""

    def to_body(self) -> dict[str, Any]:
        """The JSON request body: only the fields given, so the server's defaults apply to the others."""
        return self.model_dump(mode="json", exclude_unset=True, exclude_none=True)

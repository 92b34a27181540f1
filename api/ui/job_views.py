"""How the dashboard lays out jobs: rows of the list, accuracies, the comparison table, the curves' data.

The jobs themselves are read through ``domain.jobs.job_reads``, the functions the ``/v1`` routes use
(another tenant's job is "not found"); nothing here queries the database itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from domain.jobs import job_reads
from domain.ownership import PageParams
from domain.status import TERMINAL, JobStatus
from sdd_core.methods import base_loss_of
from sdd_core.spec import with_stored_protocol
from service.db.models import Job

LIST_PAGE_SIZE = 50
COMPARE_MAX_JOBS = 8


@dataclass(frozen=True)
class JobRow:
    """One job as the job list and ``/ui/jobs.json`` show it."""

    id: str
    name: str | None
    tags: list[str]
    status: str
    method: str
    student: str
    teacher: str | None  # a job or model id, or an architecture whose pretrained weights teach
    teacher_is_job: bool
    teacher_kind: str | None  # "job", "model", "pretrained"; None without a teacher
    teacher_name: str | None  # a teacher job's name, if it has one
    dataset: str
    epoch: int  # last finished epoch
    epochs: int
    batch: int | None  # batches done of the epoch in progress (set only while the job runs)
    batches: int | None
    val_top1: float | None
    created_at: datetime

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def teacher_short(self) -> str | None:
        """The teacher's id cut to its prefix and 8 hex digits (an architecture stays whole)."""
        return short_id(self.teacher) if self.teacher else None

    def live(self) -> dict[str, Any]:
        """The parts that change while the job runs (what our JS updates in place)."""
        return {
            "id": self.id,
            "status": self.status,
            "terminal": self.terminal,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "batch": self.batch,
            "batches": self.batches,
            "val_top1": self.val_top1,
        }


def teacher_ref(spec: dict[str, Any]) -> tuple[str | None, str | None]:
    """(job id, model id or architecture; "job", "model" or "pretrained") of a stored spec's teacher;
    (None, None) without one."""
    teacher = spec.get("teacher") or {}
    for kind, key in (("job", "job"), ("model", "model"), ("pretrained", "arch")):
        if teacher.get(key):
            return str(teacher[key]), kind
    return None, None


def init_label(spec: dict[str, Any]) -> tuple[str, str | None, bool]:
    """How the student started, for the job page: (words, a job or model id or None, whether a job)."""
    init: str | dict[str, Any] = spec.get("init") or "scratch"
    if isinstance(init, str) and init == "scratch":
        return "fresh weights", None, False
    if isinstance(init, str):  # "pretrained"
        return "its architecture's pretrained weights", None, False
    if init.get("job"):
        return "warm start from job", str(init["job"]), True
    return "warm start from model", str(init.get("model")), False


def init_text(spec: dict[str, Any]) -> str:
    """``init_label`` as one line: "warm start from job job_…"."""
    words, ref, _ = init_label(spec)
    return f"{words} {ref}" if ref else words


def is_sd(spec: dict[str, Any]) -> bool:
    """Whether scales and β mean anything for this job (the sd-* methods); else they show as "—"."""
    return str(spec.get("method", "")).startswith("sd-")


# Hyper-parameters only some methods' losses read (sdd_core.trainer.distillation_step): DKD's and
# NKD's own weights, and what every distillation term uses (ce trains on cross-entropy alone).
_DKD_ONLY = frozenset({"dkd_alpha", "dkd_beta"})
_NKD_ONLY = frozenset({"nkd_gamma", "nkd_mode"})
_DISTILLATION_ONLY = frozenset({"temperature", "kd_weight", "warmup_epochs"}) | _DKD_ONLY | _NKD_ONLY
_UNUSED_BY_BASE_LOSS: dict[str | None, frozenset[str]] = {
    None: _DISTILLATION_ONLY,
    "kd": _DKD_ONLY | _NKD_ONLY,
    "dkd": _NKD_ONLY,
    "nkd": _DKD_ONLY,
}


def method_hyperparameters(spec: dict[str, Any]) -> dict[str, Any]:
    """A job's hyper-parameters less those its method does not read (no DKD/NKD weights on an SD-KD job)."""
    hyper: dict[str, Any] = spec.get("hyperparameters") or {}
    try:
        unused = _UNUSED_BY_BASE_LOSS[base_loss_of(str(spec.get("method")))]
    except ValueError:  # a method this release does not know: show every value stored
        return hyper
    return {name: value for name, value in hyper.items() if name not in unused}


def short_id(value: str) -> str:
    """``job_b873ea93…`` for a 28-character ``job_<24 hex>`` id: the prefix and 8 hex digits; short ids unchanged."""
    prefix, _, digits = value.partition("_")
    return f"{prefix}_{digits[:8]}…" if digits and len(digits) > 12 else value


def _teacher_names(session: Session, jobs: list[Job]) -> dict[str, str]:
    """Job id -> name of the named teacher jobs of ``jobs``, read as each student's tenant (never another's)."""
    wanted: dict[str, list[str]] = {}
    for job in jobs:
        teacher, kind = teacher_ref(job.spec)
        if teacher is not None and kind == "job":
            wanted.setdefault(job.tenant_id, []).append(teacher)
    names: dict[str, str] = {}
    for tenant_id, ids in wanted.items():
        teachers = job_reads.jobs_by_ids(session, tenant_id, list(dict.fromkeys(ids)))
        names.update({teacher.id: teacher.name for teacher in teachers if teacher.name})
    return names


def job_rows(session: Session, jobs: list[Job]) -> list[JobRow]:
    latest = job_reads.latest_metrics(session, jobs)
    teacher_names = _teacher_names(session, jobs)
    rows = []
    for job in jobs:
        teacher, teacher_kind = teacher_ref(job.spec)
        result = job.result or {}
        val_top1 = result.get("val_top1", latest.get(job.id, {}).get("val_top1"))
        rows.append(
            JobRow(
                id=job.id,
                name=job.name,
                tags=job.tags,
                status=job.status,
                method=job.spec["method"],
                student=job.spec["student"],
                teacher=teacher,
                teacher_is_job=teacher_kind == "job",
                teacher_kind=teacher_kind,
                teacher_name=teacher_names.get(teacher) if teacher_kind == "job" and teacher else None,
                dataset=job.spec["dataset"],
                epoch=job.epoch,
                epochs=job.epochs,
                batch=job.batch,
                batches=job.batches,
                val_top1=val_top1,
                created_at=job.created_at,
            )
        )
    return rows


@dataclass(frozen=True)
class JobFilters:
    """The job list's filters, those of ``GET /v1/jobs`` and ``sdd jobs list``; None shows all."""

    status: JobStatus | None = None
    tag: str | None = None
    name: str | None = None  # a part of the name, ignoring case
    sweep_id: str | None = None

    @property
    def active(self) -> bool:
        return any((self.status, self.tag, self.name, self.sweep_id))

    def query(self, **extra: str) -> str:
        """The filters set (and ``extra``) as a query string, for links that keep them."""
        fields = {"status": self.status, "tag": self.tag, "name": self.name, "sweep_id": self.sweep_id, **extra}
        return urlencode({key: value for key, value in fields.items() if value})


def list_jobs(
    session: Session, tenant_id: str, filters: JobFilters, after: str | None = None
) -> tuple[list[JobRow], bool]:
    """A page of the tenant's jobs, newest first, narrowed by ``filters``: (rows, more follow)."""
    page = PageParams(limit=LIST_PAGE_SIZE, after=after)
    tags = (filters.tag,) if filters.tag else ()
    jobs, has_more = job_reads.list_jobs(
        session, tenant_id, page, filters.status, filters.sweep_id, tags=tags, name=filters.name
    )
    return job_rows(session, list(jobs)), has_more


def accuracy(job: Job, metrics: list[dict[str, Any]]) -> dict[str, float | None]:
    """Final val top-1/top-5 and the best val top-1 seen: the job's result, else its metrics so far."""
    result = job.result or {}
    last = metrics[-1] if metrics else {}
    seen = [m["val_top1"] for m in metrics if isinstance(m.get("val_top1"), (int, float))]
    return {
        "val_top1": result.get("val_top1", last.get("val_top1")),
        "val_top5": result.get("val_top5", last.get("val_top5")),
        "best_val_top1": result.get("best_val_top1", max(seen) if seen else None),
        "test_top1": result.get("test_top1"),
    }


def protocol_text(spec: dict[str, Any]) -> str:
    """``held_out (10% of each class held out for validation; val is the test split)`` or ``literature (…)``."""
    stored = with_stored_protocol(spec)
    if stored.get("protocol") == "held_out":
        fraction = float(stored.get("holdout_fraction") or 0.0)
        return f"held_out ({fraction:.0%} of each class held out to choose; the dataset's val split tests, once)"
    return "literature (the val split chooses and reports, as the paper's tables do: optimistic)"


def curves_data(job: Job, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A job's metrics rows as the interactive curves (``static/charts.js``) read them: labelled by its name, else its id."""
    return {"id": job.id, "label": job.name or job.id, "rows": rows}


def settings_table(jobs: list[Job]) -> list[tuple[str, list[Any], bool]]:
    """(setting, value per job, whether the jobs differ) for the comparison page."""

    def teacher_of(job: Job) -> str:
        teacher, kind = teacher_ref(job.spec)
        return "—" if teacher is None else f"{teacher} (pretrained)" if kind == "pretrained" else teacher

    def sd_only(job: Job, field: str) -> Any:
        """Scales and β mean something for SD methods only: "—" for ce/kd/dkd/nkd jobs."""
        return job.spec.get(field) if is_sd(job.spec) else "—"

    rows: list[tuple[str, list[Any]]] = [
        ("name", [job.name or "—" for job in jobs]),
        ("tags", [", ".join(job.tags) or "—" for job in jobs]),
        ("status", [job.status for job in jobs]),
        ("method", [job.spec["method"] for job in jobs]),
        ("student", [job.spec["student"] for job in jobs]),
        ("teacher", [teacher_of(job) for job in jobs]),
        ("init", [init_text(job.spec) for job in jobs]),
        ("dataset", [job.spec["dataset"] for job in jobs]),
        ("scales", [sd_only(job, "scales") for job in jobs]),
        ("beta", [sd_only(job, "beta") for job in jobs]),
        ("seed", [job.spec.get("seed") for job in jobs]),
        ("image_size", [job.spec.get("image_size") for job in jobs]),
        ("epochs done", [f"{job.epoch}/{job.epochs}" for job in jobs]),
    ]
    names: list[str] = []
    for job in jobs:
        for name in job.spec.get("hyperparameters") or {}:
            if name not in names:
                names.append(name)
    rows += [(name, [(job.spec.get("hyperparameters") or {}).get(name) for job in jobs]) for name in names]
    return [(name, values, any(v != values[0] for v in values)) for name, values in rows]


@dataclass(frozen=True)
class StudentFormat:
    """One stored format of a job's student: the job page's download link and "load this" snippet."""

    format: str
    label: str
    filename: str
    size_bytes: int
    sha256: str
    snippet: str


_FORMAT_LABELS = {"safetensors": "safetensors", "onnx": "ONNX", "torchscript": "TorchScript"}


def _snippet(job: Job, fmt: str, filename: str) -> str:
    """Python that loads ``filename`` and runs it on a batch normalised as in training (the card's mean/std)."""
    size = job.spec.get("image_size") or 32
    batch = f"images = torch.randn(1, 3, {size}, {size})  # (B, 3, {size}, {size}), normalised with the card's mean/std"
    if fmt == "onnx":
        return "\n".join(
            [
                "import numpy as np",
                "import onnxruntime",
                "",
                f'session = onnxruntime.InferenceSession("{filename}")',
                f"images = np.random.randn(1, 3, {size}, {size}).astype(np.float32)  # any batch size",
                'logits = session.run(["logits"], {"images": images})[0]  # (B, classes)',
            ]
        )
    if fmt == "torchscript":
        return "\n".join(
            [
                "import torch",
                "",
                f'model = torch.jit.load("{filename}").eval()  # no model code needed',
                batch,
                "logits = model(images)  # (B, classes)",
            ]
        )
    classes = (job.result or {}).get("num_classes") or "NUM_CLASSES"
    return "\n".join(
        [
            "import torch",
            "from safetensors.torch import load_file",
            "from sdd_core.models import create_model",
            "",
            f'model = create_model("{job.spec["student"]}", {classes})',
            f'model.load_state_dict(load_file("{filename}"))',
            "model.eval()",
            batch,
            "logits = model(images)  # (B, classes)",
        ]
    )


def student_format(job: Job, fmt: str, artifact: Any, filename: str) -> StudentFormat:
    """The job page's entry for the student stored as ``artifact`` in ``fmt``."""
    return StudentFormat(
        fmt, _FORMAT_LABELS[fmt], filename, artifact.size_bytes, artifact.sha256, _snippet(job, fmt, filename)
    )


CONFUSION_MAX_CLASSES = 20
"""Up to this many classes the job page draws the confusion matrix; above, per-class accuracy only."""


@dataclass(frozen=True)
class FinalEvaluation:
    """A finished job's final evaluation as its page shows it (from the result the worker stored)."""

    per_class: list[tuple[str, float | None, int, int]]  # (class, top-1 %, right, images)
    confusion: list[list[int]] | None  # confusion[true][predicted], when small enough to draw
    agreement_top1: float | None  # % of val images where the student's top-1 is the teacher's


def final_evaluation(job: Job) -> FinalEvaluation | None:
    """Per-class accuracy, the confusion matrix and the teacher agreement of a succeeded job; None
    before it succeeded (or for a job finished before the worker recorded them)."""
    result = job.result or {}
    per_class = result.get("per_class") or {}
    correct, total = per_class.get("correct") or [], per_class.get("total") or []
    if job.status != JobStatus.SUCCEEDED or not total:
        return None
    classes = per_class.get("classes") or [str(index) for index in range(len(total))]
    rows = [
        (str(name), 100.0 * right / images if images else None, int(right), int(images))
        for name, right, images in zip(classes, correct, total, strict=False)
    ]
    confusion = result.get("confusion")
    small = isinstance(confusion, list) and len(confusion) <= CONFUSION_MAX_CLASSES
    return FinalEvaluation(rows, confusion if small else None, result.get("agreement_top1"))

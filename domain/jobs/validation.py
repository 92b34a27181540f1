"""Where a job spec is validated: ``validate_submission``, the one path every job goes through.

The API calls it when a job is submitted; the worker calls it again (through
``trainable_spec``) right before training, so a job whose teacher or dataset changed meanwhile
is refused with the same words. In order:

1. the shape and field-local rules: pydantic (``JobRequest``; ``sdd_core.spec`` for the fields
   every job states: an SD method's scales and beta left out take the paper's); scales and beta
   on a method that is not scale-decoupled (``sdd_core.spec.check_sd_only_fields``: they would
   be stored and never used);
2. the service's limits on what a request may ask for (scales, image size, epochs, batch size,
   experiment trackers the operator configured; checked at admission only, so lowering a limit or
   turning a tracker off never fails a job already accepted);
3. the references: the dataset and the teacher must be the tenant's, the teacher job succeeded,
   pretrained weights present (``check_weights_at_submit``), a warm start of the student's arch;
4. every hyper-parameter left out takes the method's default (``sdd_core.spec``);
5. the models: class counts agree, SD methods on pooled-linear heads only, every scale fits
   both final feature maps (``sdd_core.trainer.compatibility``, shapes on the meta device).

Every refusal is a ``DomainError`` whose ``location`` names the field; the trainer then trusts
the spec it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from domain.errors import InvalidRequest, LimitExceeded
from domain.jobs.job_request import JobRequest
from domain.jobs.references import (
    DatasetFacts,
    TeacherFacts,
    check_student_init,
    dataset_facts,
    dataset_source,
    student_init,
    teacher_checkpoint,
    teacher_facts,
)
from sdd_core import trainer  # the architecture checks (torch) load with the first submission
from sdd_core.errors import SpecError
from sdd_core.spec import (
    SD_METHODS,
    SD_ONLY_FIELDS,
    Hyperparameters,
    JobSpec,
    check_sd_only_fields,
    resolve_hyperparameters,
    with_stored_protocol,
)
from service.artifacts import ArtifactStore
from service.db.models import Job
from service.settings import Settings

SPEC_ERROR_CODE = SpecError.code  # "invalid_spec": a stored spec, or a combination, that cannot train


@dataclass(frozen=True)
class ValidatedJob:
    """A request that passed every check, with what the checks found out."""

    request: JobRequest
    dataset: DatasetFacts
    teacher: TeacherFacts | None
    hyperparameters: Hyperparameters

    def stored_spec(self) -> dict[str, Any]:
        """The spec as the job row keeps it: every default filled in, the image size resolved; no
        scales and beta for a method that is not scale-decoupled."""
        stored = self.request.model_dump(mode="json", exclude={"metadata", "teacher", "name", "tags"})
        stored["teacher"] = self.request.teacher.model_dump(exclude_none=True) if self.request.teacher else None
        stored["hyperparameters"] = self.hyperparameters.model_dump(mode="json")
        stored["image_size"] = self.dataset.image_size
        return stored


def validate_submission(
    session: Session, settings: Settings, tenant_id: str, request: JobRequest, *, admission: bool = True
) -> ValidatedJob:
    """Check ``request`` for ``tenant_id``; ``admission`` also applies the service's request limits."""
    try:
        check_sd_only_fields(request.method, request.scales, request.beta)
    except SpecError as exc:
        raise InvalidRequest(exc.message, location=(exc.field,)) from exc
    if admission:
        _check_request_limits(settings, request)
        _check_tracking(settings, request)
    dataset = dataset_facts(session, settings, tenant_id, request.dataset, request.image_size)
    teacher = teacher_facts(session, settings, tenant_id, request.teacher)
    check_student_init(session, settings, tenant_id, request.student, request.init)
    hyperparameters = resolve_hyperparameters(
        request.method, request.student, teacher.arch if teacher else None, request.hyperparameters
    )
    if admission:
        _check_resolved_limits(settings, hyperparameters, dataset.image_size)
    _check_devices(request, hyperparameters)
    try:
        trainer.check_architectures(
            method=request.method,
            scales=request.scales or (),
            student=request.student,
            teacher_arch=teacher.arch if teacher else None,
            num_classes=dataset.num_classes,
            teacher_num_classes=teacher.num_classes if teacher else None,
            image_size=dataset.image_size,
            teacher_pretrained=teacher.pretrained if teacher else False,
        )
    except SpecError as exc:
        raise InvalidRequest(exc.message, code=exc.code, location=(exc.field,)) from exc
    return ValidatedJob(request=request, dataset=dataset, teacher=teacher, hyperparameters=hyperparameters)


def stored_request(job: Job) -> JobRequest:
    """The job's stored spec read back as a request (``InvalidRequest`` naming the field if it no longer parses).

    A row from before protocols trained under the literature's; one of a method that is not
    scale-decoupled, from before such specs left scales and beta out, drops them (they never shaped it)."""
    spec = with_stored_protocol(job.spec)
    if spec.get("method") not in SD_METHODS:
        spec = {key: value for key, value in spec.items() if key not in SD_ONLY_FIELDS}
    try:
        return JobRequest.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(part for part in first["loc"] if isinstance(part, int) or "[" not in part)
        field = ".".join(str(part) for part in location) or "spec"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidRequest(f"{field}: {message}", code=SPEC_ERROR_CODE, location=location) from exc


def trainable_spec(session: Session, settings: Settings, job: Job, store: ArtifactStore) -> JobSpec:
    """The job, validated again as at submission, with its references turned into files to train from."""
    request = stored_request(job)
    validated = validate_submission(session, settings, job.tenant_id, request, admission=False)
    return JobSpec(
        dataset=dataset_source(session, settings, job.tenant_id, request.dataset, store),
        student=request.student,
        method=request.method,
        scales=request.scales,
        beta=request.beta,
        seed=request.seed,
        image_size=request.image_size,
        protocol=request.protocol,
        holdout_fraction=request.holdout_fraction,
        hyperparameters=validated.hyperparameters,
        teacher=teacher_checkpoint(session, job.tenant_id, request.teacher, store),
        init=student_init(session, job.tenant_id, request.init, store),
        devices=request.devices,
        sync_batchnorm=request.sync_batchnorm,
    )


def _check_request_limits(settings: Settings, request: JobRequest) -> None:
    if request.devices > settings.max_devices:
        raise _limit(("devices",), f"{request.devices} exceeds this service's limit of {settings.max_devices} devices")
    too_big = [s for s in request.scales or () if s > settings.max_scale]
    if too_big:
        raise _limit(("scales",), f"scale(s) {too_big} exceed this service's limit of {settings.max_scale}")
    if request.image_size is not None and request.image_size > settings.max_image_size:
        raise _limit(("image_size",), f"{request.image_size} exceeds this service's limit of {settings.max_image_size}")


TRACKING_SETTINGS = {"mlflow": "SDD_MLFLOW_TRACKING_URI", "wandb": "SDD_WANDB_API_KEY (or SDD_WANDB_MODE=offline)"}


def _check_tracking(settings: Settings, request: JobRequest) -> None:
    """Every tracker the job asks for must be configured by this deployment's operator."""
    configured = settings.tracking_backends
    for backend in request.tracking:
        if not configured.get(backend):
            raise InvalidRequest(
                f"tracking: {backend} is not configured on this service; its operator must set "
                f"{TRACKING_SETTINGS[backend]} for jobs to log runs there (ask them, or leave {backend!r} out)",
                code="tracking_not_configured",
                location=("tracking",),
            )


def _check_resolved_limits(settings: Settings, hyperparameters: Hyperparameters, image_size: int) -> None:
    assert hyperparameters.epochs is not None and hyperparameters.batch_size is not None
    if hyperparameters.epochs > settings.max_epochs:
        raise _limit(
            ("hyperparameters", "epochs"),
            f"{hyperparameters.epochs} exceeds this service's limit of {settings.max_epochs} epochs",
        )
    if hyperparameters.batch_size > settings.max_batch_size:
        raise _limit(
            ("hyperparameters", "batch_size"),
            f"{hyperparameters.batch_size} exceeds this service's limit of {settings.max_batch_size}",
        )
    if image_size > settings.max_image_size:
        raise _limit(
            ("image_size",),
            f"the dataset trains at {image_size}px, over this service's limit of {settings.max_image_size}; "
            "set a smaller image_size",
        )


def _check_devices(request: JobRequest, hyperparameters: Hyperparameters) -> None:
    """The global batch must split evenly over the devices (as ``JobSpec`` requires)."""
    batch = hyperparameters.batch_size or 0
    if request.devices > 1 and batch % request.devices:
        raise InvalidRequest(
            f"batch_size {batch} (the global batch) does not split over devices={request.devices}; choose a "
            f"batch size that is a multiple of {request.devices}",
            location=("hyperparameters", "batch_size"),
        )
    if request.sync_batchnorm and request.devices == 1:
        raise InvalidRequest("sync_batchnorm needs devices > 1", location=("sync_batchnorm",))


def _limit(location: tuple[str, ...], message: str) -> LimitExceeded:
    return LimitExceeded(f"{'.'.join(location)}: {message}", location=location)

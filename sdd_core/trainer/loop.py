"""The training loop, read top to bottom in ``train_group``, for one student or several in lockstep.

    read the checkpoints -> what the group shares, once: device, data (its path), frozen teacher
    -> each student: its model, optimiser and schedule, where its checkpoint left it
    -> for each epoch:
        seed(seed, epoch) -> begin each student's epoch
        -> for each batch: the teacher once, then every active student's step -> stops
        -> per student: read the sums -> lr decay -> evaluate -> metrics, on_epoch_end
           -> checkpoint, on_checkpoint -> no top-1 gain for ``early_stopping_patience`` epochs:
           export it now, it leaves
    -> export each student still in the group

The parts it calls, each in its own module: ``shared.py`` (what the group shares),
``student.py`` (a student's state: ``Optimisation``, ``Progress``, ``Outputs``; its checkpoint),
``epoch.py`` (one student's step and running sums), ``finish.py`` (a stop inside an epoch; the
export of the weights, the last epoch's or the best epoch's with ``export: best``, and the model
card with the final evaluation per class of those weights).

``train`` is a group of one. Students in a group (``train_group``) draw the same batches (they
agree on the fields ``sdd_core.lockstep`` lists) and each has its own optimiser, schedule,
callbacks, checkpoints and global RNG stream (swapped in around its step, so its dropout draws
what it draws alone): a student trained in a group ends with the weights it ends with alone. A
student that is stopped (cancel) or fails leaves the group; the others go on. So does a student
that stops early, exported at once.

Every epoch's randomness (shuffling, augmentation) derives from (seed, epoch), and checkpoints
carry optimiser and scheduler states, so resuming from epoch e reproduces the uninterrupted run's
weights on CPU, on either data path (``data_path.py``; a resumed run keeps its checkpoint's path
when it can). A run stopped by ``should_stop`` checkpoints inside the epoch (batches done, running
sums, RNG states; see ``epoch.py``), and resuming from that continues with the next batch.

The loop trusts the spec it is given: callers refuse an impossible job first, with
``check_compatibility`` (``sdd train`` does) or the job service's own validation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from sdd_core.errors import NonFiniteTrainingError
from sdd_core.lockstep import disagreeing_fields, lockstep_values
from sdd_core.spec import JobSpec
from sdd_core.trainer.finish import CARD_NAME, STUDENT_NAME, export_student_run, stop_inside_epoch
from sdd_core.trainer.options import TrainCallbacks, TrainOptions, TrainResult
from sdd_core.trainer.runtime import data_seed, epoch_seed, rng_state, seed_everything, set_rng_state
from sdd_core.trainer.shared import Shared, prepare_shared
from sdd_core.trainer.student import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    RUNTIME_HYPERPARAMETERS,
    GroupMember,
    Student,
    read_checkpoints,
    same_job,
    set_up_student,
    write_checkpoint,
)
from sdd_core.trainer.training_state import EpochSums, epoch_metrics

__all__ = [
    "CARD_NAME",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "RUNTIME_HYPERPARAMETERS",
    "STUDENT_NAME",
    "GroupMember",
    "lockstep_key",
    "train",
    "train_group",
]

log = logging.getLogger(__name__)

_same_job = same_job  # its former name here (it is defined in student.py)


def lockstep_key(spec: JobSpec) -> str:
    """Equal for two specs that can train in one group (``sdd_core.lockstep``)."""
    return json.dumps(lockstep_values(spec.model_dump(mode="json")), sort_keys=True)


def train(
    spec: JobSpec,
    out_dir: str | Path,
    *,
    options: TrainOptions | None = None,
    callbacks: TrainCallbacks | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train ``spec``'s student, writing checkpoints, metrics, the student and its card to ``out_dir``."""
    member = GroupMember(spec, Path(out_dir), callbacks or TrainCallbacks(), Path(resume_from) if resume_from else None)
    (outcome,) = train_group([member], options=options)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def train_group(
    members: Sequence[GroupMember], *, options: TrainOptions | None = None
) -> list[TrainResult | Exception]:
    """Train every member's student in lockstep: one teacher forward per batch for all of them.

    Returns, per member in order, its ``TrainResult`` (completed, or stopped by its own
    ``should_stop``) or the exception that made it leave the group (the others went on). Members
    must agree on ``lockstep_key`` and start at the same point (epoch and batch); ``ValueError``
    otherwise, before anything is trained.
    """
    options = options or TrainOptions()
    if not members:
        return []
    _check_group(members, options)
    spec = members[0].spec
    epochs = spec.resolved_hyperparameters.epochs

    # 1. The checkpoints, then what the group shares: the device, the data, the frozen teacher.
    states = read_checkpoints(members, options)
    shared = prepare_shared(spec, states, options)
    try:
        # 2. Each student with its optimiser and schedule, where its checkpoint left it.
        students = [
            set_up_student(member, state, shared, options) for member, state in zip(members, states, strict=True)
        ]
        if len({student.position for student in students}) > 1:
            raise ValueError(f"the members start at different points {[student.position for student in students]}; "
                             "a group trains from one epoch and batch")  # fmt: skip
        for student in students:  # resumed from the checkpoint of the epoch that stopped it early
            if student.progress.partial is None and student.stops_early:
                _export(student, shared)

        # 3. Epochs: every batch drawn once, the teacher run once on it, then each student's step.
        for epoch in range(students[0].position[0], epochs + 1):
            active = [student for student in students if student.outcome is None]
            if not active:
                break
            seed = epoch_seed(spec.seed, epoch)
            seed_everything(seed)
            for student in active:
                student.begin_epoch(epoch, len(shared.data.train), options.report_seconds)
            swap = len(active) > 1  # alone, a student keeps the global RNGs as they are
            skip = active[0].epoch_run.progress.batches_done if active[0].epoch_run else 0
            for images, labels in shared.data.train.batches(data_seed(seed), skip=skip):
                for student in list(active):
                    assert student.epoch_run is not None
                    try:
                        if swap:  # its own RNG stream: its dropout draws what it draws alone
                            set_rng_state(student.rng)
                        student.epoch_run.train_batch(images, labels)
                        if swap:
                            student.rng = rng_state()
                    except Exception as exc:  # this student leaves; the others go on
                        student.leave(exc)
                        active.remove(student)
                for student in _stopping(active):  # a checkpoint inside the epoch, then it leaves
                    try:
                        student.leave(stop_inside_epoch(student, epoch, student.rng if swap else rng_state(), shared))
                    except Exception as exc:
                        student.leave(exc)
                active = [student for student in active if student.outcome is None]
                if not active:
                    break

            # 4. The end of the epoch, per student: sums, lr decay, evaluation, metrics, checkpoint.
            for student in active:
                assert student.epoch_run is not None
                optimisation, progress, callbacks = student.optimisation, student.progress, student.callbacks
                try:
                    sums = student.epoch_run.progress.finish()  # waits for the device
                    _refuse_nonfinite(sums, epoch, options.max_nonfinite_fraction)
                    lr = optimisation.optimizer.param_groups[0]["lr"]  # the epoch's, before its decay
                    optimisation.scheduler.step()
                    evaluation = shared.evaluate(optimisation.model)
                    improved = progress.end_epoch(epoch, evaluation)
                    progress.last = epoch_metrics(
                        epoch=epoch,
                        epochs=epochs,
                        lr=lr,
                        sums=sums,
                        val=evaluation.metrics(),
                        best=progress.best,
                        scale_decoupled=optimisation.step.config.scale_decoupled,
                        data_path=shared.data.path,
                    )
                    if improved and student.hp.export == "best" and student.outputs.writes:
                        progress.keep_best(optimisation.model)
                    # Metrics before the checkpoint: a run resumed from this checkpoint skips the epoch,
                    # so its metrics must already be recorded (a replayed epoch's are recorded once by callers).
                    student.outputs.record(progress.last)
                    log.info("%s epoch %d/%d: loss %.4f val top-1 %.2f%%", student.spec.student, epoch, epochs,
                             progress.last["train_loss"], evaluation.val_top1)  # fmt: skip
                    if callbacks.on_epoch_end:
                        callbacks.on_epoch_end(progress.last)
                    write_checkpoint(student, shared)
                    if callbacks.on_checkpoint:
                        callbacks.on_checkpoint(epoch, student.outputs.checkpoint_path)
                except Exception as exc:
                    student.leave(exc)
                    continue
                if student.stops_early:  # no top-1 gain for early_stopping_patience epochs
                    _export(student, shared)

        # 5. Export every student that trained to the end.
        for student in students:
            if student.outcome is None:
                _export(student, shared)
    finally:
        shared.data.close()  # the loader's worker processes end with the run
    return [student.outcome for student in students if student.outcome is not None]


def _check_group(members: Sequence[GroupMember], options: TrainOptions) -> None:
    """``ValueError`` for a group that cannot train together."""
    differ = disagreeing_fields([member.spec.model_dump(mode="json") for member in members])
    if differ:
        raise ValueError(f"these specs draw different batches ({', '.join(differ)} differ, see sdd_core.lockstep); "
                         "train them in separate groups")  # fmt: skip
    if options.world_size > 1 and len(members) > 1:
        raise ValueError(f"a group of {len(members)} students cannot train on {options.world_size} ranks; "
                         "train jobs with devices > 1 alone")  # fmt: skip


def _stopping(active: list[Student]) -> list[Student]:
    """The students whose ``should_stop`` asks to stop after the batch every one of them trained.

    Asked once all stepped, and once more of those that said no when another said yes: a stop
    that holds for the whole process (a worker shutting down) then stops every student at the
    same batch, so the group resumes together instead of in parts; a stop of one student (its
    cancel) stops that one only. A student whose ``should_stop`` raises leaves with that error.
    """

    def asks(student: Student) -> bool:
        assert student.epoch_run is not None
        try:
            return student.epoch_run.wants_stop()
        except Exception as exc:
            student.leave(exc)
            return False

    answers = {id(student): asks(student) for student in active}
    if any(answers.values()):
        for student in active:
            if not answers[id(student)] and student.outcome is None:
                answers[id(student)] = asks(student)
    return [student for student in active if answers[id(student)]]


def _refuse_nonfinite(sums: EpochSums, epoch: int, max_fraction: float) -> None:
    """``NonFiniteTrainingError`` when more than ``max_fraction`` of the epoch's steps gave a non-finite loss."""
    if sums.nonfinite:
        log.warning("epoch %d: %d of %d steps gave a non-finite loss and were skipped", epoch, sums.nonfinite,
                    sums.steps)  # fmt: skip
    if sums.nonfinite > max_fraction * sums.steps:
        raise NonFiniteTrainingError(
            f"epoch {epoch}: {sums.nonfinite} of {sums.steps} steps gave a non-finite loss; "
            "lower the learning rate or the distillation weight"
        )


def _export(student: Student, shared: Shared) -> None:
    """``student`` leaves the group exported, or with the error exporting raised."""
    try:
        result = export_student_run(student, shared)
    except Exception as exc:
        student.leave(exc)
        return
    student.leave(result)

"""The experiment trackers a job's run is logged to: MLflow and Weights & Biases, one class each.

Each speaks its tracker's own client library (``mlflow`` / ``wandb``, imported in ``prepare``, so
only a job that asks for the tracker loads it) and is driven by ``worker.tracking`` from a
background thread, one call at a time:

* ``prepare()`` imports the library (no network);
* ``open(stored)`` starts the run, or continues the one ``stored`` names (a resumed job); returns
  the run and the last epoch the tracker already holds, so no epoch is sent twice;
* ``log_epochs(rows)`` sends finished epochs (step = epoch);
* ``log_files(paths)`` uploads the student file(s) and the model card;
* ``close(outcome)`` ends the run with the job's outcome (``succeeded``, ``failed``, ``cancelled``;
  ``queued``/``lost``: the job goes on in another attempt, which continues the run).

Where the runs go and the credentials are the operator's (``service.settings``), never a job's.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from service.settings import Settings

ARTIFACT_FOLDER = "student"


@dataclass(frozen=True)
class RunContext:
    """What a tracker is told about the job: who, what, and the spec with every default filled in."""

    job_id: str
    tenant: str
    spec: dict[str, Any]
    name: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def run_name(self) -> str:
        return self.name or self.job_id

    def params(self) -> dict[str, str]:
        """The spec as flat parameters: ``method``, ``scales``, ``hyperparameters.lr``, ... (None left out)."""
        flat: dict[str, str] = {}
        for key, value in sorted(self.spec.items()):
            if key == "tracking" or value is None:
                continue
            if key == "hyperparameters" and isinstance(value, dict):
                flat.update({f"hyperparameters.{k}": _text(v) for k, v in sorted(value.items()) if v is not None})
            else:
                flat[key] = _text(value)
        return flat

    def labels(self) -> dict[str, str]:
        """The run's tags: the job, tenant, method, models, dataset, and the job's own name and tags."""
        labels = {
            "sdd.job_id": self.job_id,
            "sdd.tenant": self.tenant,
            "sdd.method": str(self.spec.get("method")),
            "sdd.student": str(self.spec.get("student")),
            "sdd.teacher": teacher_label(self.spec.get("teacher")),
            "sdd.dataset": str(self.spec.get("dataset")),
        }
        if self.name:
            labels["sdd.job_name"] = self.name
        if self.tags:
            labels["sdd.tags"] = ",".join(self.tags)
        return labels


def teacher_label(teacher: Any) -> str:
    """``job:job_…``, ``model:mdl_…``, ``resnet32x4``-style text for a spec's teacher; ``none`` without one."""
    if not teacher:
        return "none"
    if isinstance(teacher, dict):
        return ",".join(f"{key}:{value}" for key, value in sorted(teacher.items()) if value is not None)
    return str(teacher)


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_text(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}:{_text(item)}" for key, item in sorted(value.items()))
    return str(value)


def epoch_numbers(row: dict[str, Any]) -> dict[str, float]:
    """A metrics row's finite numbers (``epoch`` included: a resumed run reads the last one back)."""
    numbers = {}
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            numbers[key] = float(value)
    return numbers


@dataclass(frozen=True)
class TrackedRun:
    """A run in a tracker: its id and its page (None where it has none, e.g. a W&B run kept offline)."""

    run_id: str
    url: str | None


@dataclass(frozen=True)
class EpochRow:
    """One finished epoch as stored: its number, its metrics and when it was recorded (epoch seconds)."""

    epoch: int
    metrics: dict[str, Any]
    timestamp: float


class TrackerBackend(Protocol):
    name: str
    label: str
    setting: str  # what its operator checks when it fails

    def prepare(self) -> None: ...
    def open(self, stored: dict[str, Any]) -> tuple[TrackedRun, int]: ...
    def log_epochs(self, rows: list[EpochRow]) -> None: ...
    def log_files(self, paths: list[Path]) -> None: ...
    def close(self, outcome: str) -> None: ...


# ---------------------------------------------------------------- MLflow

MLFLOW_STATUSES = {
    "succeeded": "FINISHED",
    "failed": "FAILED",
    "cancelled": "KILLED",
    "pruned": "KILLED",  # a search's trial stopped at a rung
    "queued": "SCHEDULED",
}
MLFLOW_BATCH = 1000  # metrics per log_batch call, the tracking API's limit
MLFLOW_PARAM_BATCH = 100


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part."""
    return re.sub(r"(?<=://)[^/@\s]*@", "", url)


class MlflowBackend:
    """A run of ``settings.mlflow_experiment`` ({tenant}: the tenant's name) on the operator's server."""

    name = "mlflow"
    label = "MLflow"
    setting = "SDD_MLFLOW_TRACKING_URI"

    def __init__(self, settings: Settings, context: RunContext) -> None:
        assert settings.mlflow_tracking_uri is not None
        self.settings = settings
        self.context = context
        self.uri = settings.mlflow_tracking_uri
        self.experiment = settings.mlflow_experiment.replace("{tenant}", context.tenant)
        self.client: Any = None
        self.run_id: str | None = None
        self.opened: tuple[TrackedRun, int] | None = None

    def prepare(self) -> None:
        # Each request gives up after the tracking timeout, and is not retried by the library: what
        # failed is sent again at the next epoch (worker.tracking). An operator's own values win.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(self.settings.tracking_timeout_s))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)

    def open(self, stored: dict[str, Any]) -> tuple[TrackedRun, int]:
        if self.opened is None:  # a call that outlived its time may have opened it meanwhile
            self.opened = self._open(stored)
        return self.opened

    def _open(self, stored: dict[str, Any]) -> tuple[TrackedRun, int]:
        run = self.client.get_run(stored["run_id"]) if stored.get("run_id") else self._run_of_job()
        if run is None:
            experiment_id = self._experiment_id()
            run = self.client.create_run(experiment_id, run_name=self.context.run_name, tags=self.context.labels())
            params = self._params()
            for start in range(0, len(params), MLFLOW_PARAM_BATCH):
                self.client.log_batch(run.info.run_id, params=params[start : start + MLFLOW_PARAM_BATCH])
        else:
            self.client.update_run(run.info.run_id, status="RUNNING")
        self.run_id = run.info.run_id
        base = without_credentials(self.settings.mlflow_ui_url or self.uri).rstrip("/")
        url = f"{base}/#/experiments/{run.info.experiment_id}/runs/{self.run_id}"
        return TrackedRun(self.run_id, url), int(run.data.metrics.get("epoch", 0))

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(self.experiment))
        except MlflowException:  # another worker created it meanwhile
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return str(found.experiment_id)

    def _run_of_job(self) -> Any:
        """The job's run an earlier attempt started but could not record (it died in between), or None."""
        found = self.client.get_experiment_by_name(self.experiment)
        if found is None:
            return None
        runs = self.client.search_runs(
            [found.experiment_id], filter_string=f"tags.`sdd.job_id` = '{self.context.job_id}'", max_results=1
        )
        return runs[0] if runs else None

    def _params(self) -> list[Any]:
        from mlflow.entities import Param

        return [Param(key, value[:6000]) for key, value in self.context.params().items()]

    def log_epochs(self, rows: list[EpochRow]) -> None:
        from mlflow.entities import Metric

        metrics = [
            Metric(key, value, int(row.timestamp * 1000), row.epoch)
            for row in rows
            for key, value in epoch_numbers(row.metrics).items()
        ]
        for start in range(0, len(metrics), MLFLOW_BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + MLFLOW_BATCH])

    def log_files(self, paths: list[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path), artifact_path=ARTIFACT_FOLDER)

    def close(self, outcome: str) -> None:
        status = MLFLOW_STATUSES.get(outcome)
        if status == "SCHEDULED":
            self.client.update_run(self.run_id, status=status)
        elif status is not None:
            self.client.set_terminated(self.run_id, status=status, end_time=int(time.time() * 1000))


# ---------------------------------------------------------------- Weights & Biases


class WandbBackend:
    """A run of ``settings.wandb_project`` whose id is the job's id (a resumed job continues it);
    offline (``SDD_WANDB_MODE=offline``) its folder is written under ``settings.wandb_dir``."""

    name = "wandb"
    label = "Weights & Biases"
    setting = "SDD_WANDB_API_KEY, SDD_WANDB_MODE"

    def __init__(self, settings: Settings, context: RunContext) -> None:
        self.settings = settings
        self.context = context
        self.wandb: Any = None
        self.run: Any = None
        self.opened: tuple[TrackedRun, int] | None = None

    def prepare(self) -> None:
        import wandb

        self.wandb = wandb
        self.settings.wandb_dir.mkdir(parents=True, exist_ok=True)
        wandb.setup().ensure_service()  # its local service process, started once per worker process

    def open(self, stored: dict[str, Any]) -> tuple[TrackedRun, int]:
        if self.opened is None:  # a call that outlived its time may have opened it meanwhile
            self.opened = self._open(stored)
        return self.opened

    def _open(self, stored: dict[str, Any]) -> tuple[TrackedRun, int]:
        key = self.settings.wandb_api_key
        options = self.wandb.Settings(
            api_key=key.get_secret_value() if key is not None else None,
            init_timeout=float(self.settings.tracking_timeout_s),
            silent=True,
            console="off",
            save_code=False,
            disable_git=True,
            x_disable_stats=True,
            x_disable_machine_info=True,
            x_save_requirements=False,
        )
        self.run = self.wandb.init(
            project=self.settings.wandb_project,
            entity=self.settings.wandb_entity,
            id=str(stored.get("run_id") or self.context.job_id),
            resume="allow",
            name=self.context.run_name,
            config=self.context.params(),
            tags=[f"{key}={value}"[:64] for key, value in self.context.labels().items()],
            dir=str(self.settings.wandb_dir),
            mode=self.settings.wandb_mode,
            reinit="create_new",  # each job of a worker (or of a lockstep group) its own run
            settings=options,
        )
        offline = self.settings.wandb_mode == "offline"
        already = max(int(self.run.starting_step or 0) - 1, 0)  # a resumed online run: its last step
        return TrackedRun(self.run.id, None if offline else self.run.url), already

    def log_epochs(self, rows: list[EpochRow]) -> None:
        for row in rows:
            self.run.log(epoch_numbers(row.metrics), step=row.epoch)

    def log_files(self, paths: Iterable[Path]) -> None:
        artifact = self.wandb.Artifact(f"{self.context.job_id}-student", type="model")
        for path in paths:
            artifact.add_file(str(path), name=f"{ARTIFACT_FOLDER}/{path.name}")
        self.run.log_artifact(artifact)

    def close(self, outcome: str) -> None:
        if outcome in ("queued", "lost"):  # another attempt continues the run
            self.run.mark_preempting()
        self.run.finish(exit_code=0 if outcome in ("succeeded", "pruned", "queued", "lost") else 1)


BACKENDS: dict[str, type[MlflowBackend] | type[WandbBackend]] = {"mlflow": MlflowBackend, "wandb": WandbBackend}

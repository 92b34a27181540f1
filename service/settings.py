"""The service's one settings object, read once from ``SDD_*`` environment variables.

With nothing set, everything lives under ``SDD_HOME`` (default ``~/.sdd``): an SQLite database, a
Celery broker on local files (no server process), artifacts and datasets. Production sets
``SDD_DATABASE_URL=postgresql+psycopg://...``, ``SDD_BROKER_URL=redis://...`` and, when nodes share
no disk, ``SDD_ARTIFACT_URL=s3://bucket/prefix`` (see ``service.artifacts``).
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret"})


class Settings(BaseSettings):
    """Every knob of the service. Paths left unset derive from ``home``."""

    model_config = SettingsConfigDict(env_prefix="SDD_", env_file=None, extra="ignore")

    # production (the default) refuses placeholder secrets; development accepts them, for local experiments.
    env: Literal["development", "production"] = "production"
    home: Path = Field(default_factory=lambda: Path.home() / ".sdd")
    # Left unset: SQLite in ``home``, the file broker, and the folders below under ``home``
    # (``_under_home``); the types say what every reader finds.
    database_url: str = ""
    broker_url: str = ""
    artifact_dir: Path = Path("artifacts")
    data_root: Path = Path("data")
    work_dir: Path = Path("work")
    allow_download: bool = False
    # Pretrained weights (tv/ models: torch hub's cache, timm/ models: Hugging Face's) are read from
    # the worker's local caches only. ``allow_weight_downloads`` lets a worker fetch a missing file
    # into its cache; ``check_weights_at_submit`` refuses a job whose file the API's machine lacks
    # (right where the API and the workers share the caches, as on the embedded default; turn it
    # off where API nodes hold no weights, and a worker without the file fails the job naming it).
    allow_weight_downloads: bool = False
    check_weights_at_submit: bool = True

    # Object storage (see service.artifacts, service.s3_store): ``s3://bucket/prefix`` keeps every
    # artifact in that bucket instead of ``artifact_dir``; region and credentials come the standard
    # AWS way (AWS_* variables, ~/.aws, instance roles). Objects a job reads are fetched into
    # ``cache_dir`` (default ``$SDD_HOME/cache``), at most ``cache_max_bytes`` of them kept.
    artifact_url: str | None = None
    s3_endpoint_url: str | None = None  # e.g. http://minio:9000; None: AWS's own endpoint
    s3_public_endpoint_url: str | None = None  # the endpoint presigned URLs name; None: s3_endpoint_url
    s3_presigned_downloads: bool = False  # downloads answer 307 to a presigned URL instead of streaming
    s3_presigned_expiry_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    cache_dir: Path = Path("cache")
    cache_max_bytes: int = Field(default=50 << 30, ge=0)

    # Queue
    queue_name: str = "training"
    worker_concurrency: int = 1

    # Training data (see sdd_core.trainer.data_path): small-image datasets whose train and val splits
    # take at most ``device_data_max_bytes`` live on the training device (None: a quarter of its
    # memory; 0: never); large images go through ``loader_workers`` loader processes per job (None:
    # from the CPUs when a GPU trains, none on the CPU). A job's ``loader_workers`` overrides it.
    device_data_max_bytes: int | None = Field(default=None, ge=0)
    loader_workers: int | None = Field(default=None, ge=0)

    # Limits (per request / per job)
    max_upload_bytes: int = 1 << 30
    # Datasets registered where they live (see domain.datasets): the object-store prefixes tenants
    # may name, ``;``-separated, each ``prefix=*`` (open to every tenant) or ``prefix=acme,beta``
    # (those tenants only), e.g. ``s3://corpus/public/=*;s3://corpus/acme/=acme``. Empty: none.
    # Ingestion runs on the ``ingestion_queue`` (any worker started with ``--queues`` naming it,
    # CPU nodes included) and writes shards of at most ``shard_max_bytes``; a listing may take
    # ``listing_time_limit_s`` and hold ``listing_max_objects`` objects. A tenant's datasets may
    # take ``tenant_storage_quota_bytes`` of shards and uploads in all (0: no quota).
    dataset_sources: str = ""
    dataset_s3_endpoint_url: str | None = None  # the sources' endpoint; None: s3_endpoint_url, then AWS's
    ingestion_queue: str = "ingestion"
    shard_max_bytes: int = Field(default=64 << 20, ge=1 << 16)
    listing_time_limit_s: float = Field(default=300.0, gt=0)
    listing_max_objects: int = Field(default=5_000_000, ge=1)
    tenant_storage_quota_bytes: int = Field(default=500 << 30, ge=0)
    # Uploads checked at once per API process (archive extraction, weight checks); more wait their turn
    # without holding the threads that answer other requests.
    ingest_concurrency: int = Field(default=2, ge=1)
    max_epochs: int = 1000
    max_batch_size: int = 4096
    max_image_size: int = 512
    max_scale: int = 16
    max_devices: int = Field(default=8, ge=1, le=8)  # devices one job may ask for (its worker has them)
    worker_devices: int = Field(default=1, ge=1, le=8)  # the jobs this worker serves (sdd worker --devices)
    # Node-wide folder of the GPU claims (worker.gpu_claims): one worker per GPU, whatever its SDD_HOME.
    gpu_lock_dir: Path = Path("/tmp/sdd-gpus")
    max_sweep_size: int = Field(default=64, ge=1)  # member jobs of one sweep (the grid's product)
    # Jobs of one lockstep group a worker trains together on one device (more: several groups).
    max_group_size: int = Field(default=8, ge=1)
    keep_checkpoints: int = 3

    # Recovery (see worker.reaper): a running job's lease is renewed every lease/3 seconds; a job
    # whose lease expired is re-queued (or failed ``worker_lost`` after ``job_max_attempts`` lost
    # attempts); a job queued in SQL but not sent for ``requeue_after_seconds`` is sent again.
    job_lease_seconds: int = Field(default=120, ge=3)
    # How long a worker waits for an unreachable database before it gives the attempt up (the job
    # then resumes from its newest checkpoint once the database is back): see worker.database_outage.
    database_outage_seconds: int = Field(default=300, ge=1)
    job_max_attempts: int = Field(default=3, ge=1)
    job_time_limit_seconds: int = Field(default=0, ge=0)  # running time over all attempts; 0: none
    reaper_interval_seconds: float | None = Field(default=None, gt=0)  # None: a quarter of the lease
    requeue_after_seconds: int = Field(default=300, ge=1)

    # HTTP
    cors_origins: list[str] = Field(default_factory=list)
    # Signs the dashboard's CSRF tokens. Unset: a random key per process, so a form only posts back
    # to the API process that served it; give every API replica the same key.
    ui_secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    # Serving (see api.server_options): addresses whose X-Forwarded-* headers are believed (comma
    # list, "*" for any; empty: none), idle keep-alive timeout, connections at once, header bytes.
    forwarded_allow_ips: str = ""
    http_keepalive_timeout_s: int = Field(default=5, ge=1)
    http_max_connections: int = Field(default=1000, ge=0)
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    # A connection's request headers must be complete this many seconds after it opened (or after
    # the next request's first byte); one client address holds at most this many connections (0:
    # no cap). See api.connection_guard.
    http_header_timeout_s: int = Field(default=10, ge=1)
    http_max_connections_per_client: int = Field(default=100, ge=0)

    # Abuse limits (see api.rate_limit, domain.jobs.submission): requests per minute per API token
    # (per client IP without a known token) in bursts of up to ``rate_limit_burst``, 0 turns rate
    # limiting off; jobs queued, running or cancelling per tenant, 0 for no limit.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    max_jobs_in_flight: int = Field(default=20, ge=0)

    # Log lines (service.logs): "text" or "json", one object per line, with request, job and tenant ids.
    log_format: Literal["text", "json"] = "text"

    # /metrics (api.metrics): answered to these addresses or networks (comma list), or to a request
    # bearing ``Authorization: Bearer <metrics_token>``; a worker's exporter listens on
    # ``worker_metrics_port`` (0: none) of ``worker_metrics_host``.
    metrics_allowed_ips: str = "127.0.0.1,::1"
    metrics_token: SecretStr | None = None
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)

    # Experiment tracking (worker.tracking), set by the operator only: a job asking for "mlflow" is
    # logged as a run of ``mlflow_experiment`` ({tenant}: the tenant's name) on ``mlflow_tracking_uri``
    # (None: MLflow off; credentials the standard MLflow way, MLFLOW_TRACKING_USERNAME/PASSWORD or
    # MLFLOW_TRACKING_TOKEN in the worker's environment) and linked at ``mlflow_ui_url`` (None: the
    # tracking URI); one asking for "wandb" as a run of ``wandb_project`` where ``wandb_api_key`` is
    # set or ``wandb_mode`` is offline (run folders under ``wandb_dir``, for ``wandb sync``). Calls run
    # beside training: each waits at most ``tracking_timeout_s``, and an ended job waits at most
    # ``tracking_flush_s`` for what is still being sent.
    mlflow_tracking_uri: str | None = None
    mlflow_experiment: str = Field(default="sdd-jobs/{tenant}", min_length=1, max_length=200)
    mlflow_ui_url: str | None = None
    wandb_api_key: SecretStr | None = None
    wandb_project: str = Field(default="sdd-jobs", min_length=1, max_length=128)
    wandb_entity: str | None = None
    wandb_mode: Literal["online", "offline"] = "online"
    wandb_dir: Path = Path("wandb")
    tracking_timeout_s: int = Field(default=5, ge=1, le=120)
    tracking_flush_s: float = Field(default=10.0, ge=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _under_home(cls, data: Any) -> Any:
        """Fill the database, broker and folders left unset (or empty) from ``home``."""
        if not isinstance(data, dict):
            return data
        home = Path(data.get("home") or Path.home() / ".sdd").expanduser()
        defaults = {
            "database_url": f"sqlite:///{home / 'sdd.sqlite'}",
            "broker_url": "filesystem://localhost//",
            "artifact_dir": home / "artifacts",
            "data_root": home / "data",
            "work_dir": home / "work",
            "cache_dir": home / "cache",
            "wandb_dir": home / "wandb",
        }
        return {**data, "home": home, **{key: value for key, value in defaults.items() if not data.get(key)}}

    @model_validator(mode="after")
    def _check(self) -> Settings:
        for name in ("artifact_dir", "data_root", "work_dir", "cache_dir", "wandb_dir"):
            setattr(self, name, getattr(self, name).expanduser())
        self.artifact_url = self.artifact_url or None
        self.mlflow_tracking_uri = self.mlflow_tracking_uri or None
        self.mlflow_ui_url = self.mlflow_ui_url or None
        self.wandb_entity = self.wandb_entity or None
        if self.wandb_api_key is not None and not self.wandb_api_key.get_secret_value():
            self.wandb_api_key = None
        if self.artifact_url is not None:
            parse_artifact_url(self.artifact_url)  # refuse a malformed URL at start-up, not at the first job
        if self.env == "production":
            password = make_url(self.database_url).password
            if password is not None and str(password).lower() in PLACEHOLDER_SECRETS:
                raise ValueError("SDD_DATABASE_URL carries a placeholder password; set a real one in production")
            if self.ui_secret_key.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("SDD_UI_SECRET_KEY is a placeholder; set a random one in production")
        return self

    @property
    def reaper_interval(self) -> float:
        """Seconds between two passes of a worker's reaper."""
        return self.reaper_interval_seconds or max(1.0, self.job_lease_seconds / 4)

    @property
    def worker_alive_seconds(self) -> float:
        """A worker not seen for longer (three reaper passes) is taken to be gone."""
        return 3 * self.reaper_interval

    @property
    def lease_renew_interval(self) -> float:
        """Seconds between two renewals of a running job's lease: three tries before it expires."""
        return self.job_lease_seconds / 3

    @property
    def tracking_backends(self) -> dict[str, bool]:
        """Each experiment tracker a job may ask for, and whether this deployment configured it."""
        return {
            "mlflow": self.mlflow_tracking_uri is not None,
            "wandb": self.wandb_api_key is not None or self.wandb_mode == "offline",
        }

    @property
    def broker_is_filesystem(self) -> bool:
        return str(self.broker_url).startswith("filesystem://")

    @property
    def broker_dir(self) -> Path:
        """Message folder of the embedded (filesystem) broker."""
        return self.home / "broker"

    def ensure_dirs(self) -> None:
        """Create the local folders the embedded default writes to."""
        for path in (self.home, self.artifact_dir, self.data_root, self.work_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.broker_is_filesystem:
            (self.broker_dir / "queue").mkdir(parents=True, exist_ok=True)
            (self.broker_dir / "processed").mkdir(parents=True, exist_ok=True)


def parse_artifact_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``("bucket", "prefix")`` (prefix without slashes at its ends, may be "")."""
    scheme, sep, rest = url.partition("://")
    bucket, _, prefix = rest.partition("/")
    if scheme != "s3" or not sep or not bucket:
        raise ValueError(f"SDD_ARTIFACT_URL must read s3://bucket[/prefix], got {url!r}")
    return bucket, prefix.strip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (tests clear the cache after changing the environment)."""
    return Settings()

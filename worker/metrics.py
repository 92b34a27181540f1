"""A worker's Prometheus metrics, its prefork pool children's included, on ``SDD_WORKER_METRICS_PORT``.

Each pool child trains in a process of its own, so the metrics use prometheus_client's multiprocess
mode: ``sdd worker`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder of its own before any
process imports prometheus_client (``prepare``), every process writes its values there, and the
worker's main process serves them all (``serve``, once the worker is ready). Labels stay bounded:
no job or tenant id, a status one of a few, ``pid`` (added by the mode to per-process gauges) one per
pool process.

* ``sdd_worker_devices`` — devices each job of this worker trains on (``sdd worker --devices``);
* ``sdd_worker_jobs_running`` — jobs training now;
* ``sdd_jobs_finished_total{status}`` — attempts this worker ended: succeeded, failed, cancelled,
  queued (given back at shutdown or after a lost rank);
* ``sdd_training_epochs_total``, ``sdd_training_images_total``, ``sdd_training_epoch_seconds`` (a
  histogram), and ``sdd_training_images_per_second`` — the last finished epoch's, per pool process
  while it trains (a pool process runs one job and exits: ``worker_max_tasks_per_child`` is 1);
* ``sdd_cuda_memory_allocated_bytes``, ``sdd_cuda_memory_reserved_bytes``, ``sdd_cuda_utilization_ratio``
  — per pool process training on CUDA, at each epoch's end (utilisation where NVML answers);
* ``sdd_lease_renewed_timestamp_seconds`` — when a job's lease was last renewed: an alert fires when
  jobs run and it stops moving (``deploy/prometheus/alerts.yml``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
EPOCH_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def prepare(home: Path) -> Path:
    """In ``sdd worker`` before Celery starts: a fresh folder for every process's values (and the
    folders of workers of this node that died without removing theirs, gone)."""
    root = home / "metrics"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("worker-*-*"):
        if not _alive(stale.name.split("-")[1]):
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=root))
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process of that number
        return True
    return True


def enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def serve(host: str, port: int) -> None:
    """In the worker's main process: the exporter over every process's values."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)
    log.info("worker metrics on http://%s:%d/metrics", host, port)


def forget_process(pid: int) -> None:
    """A pool process that exits: its live gauges go (its counters stay counted)."""
    if enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def remove_folder() -> None:
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


class _Metrics:
    """The metric objects, made on first use in each process (after ``prepare`` set the mode)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.devices = Gauge(
            "sdd_worker_devices", "Devices each job of this worker trains on.", multiprocess_mode="max"
        )
        self.running = Gauge("sdd_worker_jobs_running", "Jobs training now.", multiprocess_mode="livesum")
        self.finished = Counter("sdd_jobs_finished", "Job attempts this worker ended, by the status after.", ["status"])
        self.epochs = Counter("sdd_training_epochs", "Epochs trained.")
        self.images = Counter("sdd_training_images", "Training images seen (rate(): the fleet's throughput).")
        self.epoch_seconds = Histogram("sdd_training_epoch_seconds", "Seconds per epoch.", buckets=EPOCH_BUCKETS)
        self.images_per_s = Gauge(
            "sdd_training_images_per_second", "The last epoch's training images/s.", multiprocess_mode="liveall"
        )
        self.cuda_allocated = Gauge(
            "sdd_cuda_memory_allocated_bytes", "CUDA memory held by tensors.", multiprocess_mode="liveall"
        )
        self.cuda_reserved = Gauge(
            "sdd_cuda_memory_reserved_bytes", "CUDA memory reserved by the allocator.", multiprocess_mode="liveall"
        )
        self.cuda_utilization = Gauge(
            "sdd_cuda_utilization_ratio", "GPU utilisation (0-1) at the epoch's end.", multiprocess_mode="liveall"
        )
        self.lease_renewed = Gauge(
            "sdd_lease_renewed_timestamp_seconds", "When a job's lease was last renewed.", multiprocess_mode="max"
        )


_metrics: list[_Metrics] = []


def _get() -> _Metrics | None:
    if not enabled():
        return None
    if not _metrics:
        _metrics.append(_Metrics())
    return _metrics[0]


def worker_started(devices: int) -> None:
    if (metrics := _get()) is not None:
        metrics.devices.set(devices)


def job_started() -> None:
    """A claimed job: its lease was just granted, which counts as a renewal."""
    if (metrics := _get()) is not None:
        metrics.running.inc()
        metrics.lease_renewed.set(time.time())


def job_ended(status: str) -> None:
    if (metrics := _get()) is not None:
        metrics.running.dec()
        metrics.finished.labels(status).inc()


def epoch_finished(epoch_metrics: dict[str, Any]) -> None:
    """After each epoch (``worker.training_callbacks``): speed, time and the GPU's memory."""
    metrics = _get()
    if metrics is None:
        return
    metrics.epochs.inc()
    seconds, rate = epoch_metrics.get("seconds"), epoch_metrics.get("images_per_s")
    if isinstance(seconds, int | float) and seconds > 0:
        metrics.epoch_seconds.observe(seconds)
    if isinstance(rate, int | float):
        metrics.images_per_s.set(rate)
        if isinstance(seconds, int | float):
            metrics.images.inc(max(0.0, rate * seconds))
    _cuda(metrics)


def lease_renewed() -> None:
    if (metrics := _get()) is not None:
        metrics.lease_renewed.set(time.time())


def _cuda(metrics: _Metrics) -> None:
    import torch  # the pool process trains: torch is loaded already

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return
    metrics.cuda_allocated.set(torch.cuda.memory_allocated())
    metrics.cuda_reserved.set(torch.cuda.memory_reserved())
    try:
        metrics.cuda_utilization.set(torch.cuda.utilization() / 100.0)
    except Exception:  # NVML missing or refusing: memory only
        pass

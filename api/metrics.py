"""``/metrics``: the API process's HTTP traffic and the service's state, in Prometheus' text format.

Every label has a bounded set of values: a route is its template (``/v1/jobs/{job_id}``, never a
job id), a status a JobStatus or an HTTP status, a queue one per device count. Tenants, tokens and
ids never appear.

* ``sdd_http_requests_total{route, method, status}`` and ``sdd_http_request_duration_seconds``
  (a histogram by route and method), counted by this process (``HttpMetricsMiddleware``);
* read from SQL at each scrape (``ServiceStateCollector``), the same from every API replica:
  ``sdd_jobs{status}``, ``sdd_sweeps{status}``, ``sdd_queue_jobs{queue}`` and
  ``sdd_queue_oldest_age_seconds{queue}`` (queued jobs and how long the oldest waited),
  ``sdd_workers_alive{queue}`` (workers seen within ``worker_alive_seconds`` serving each queue),
  ``sdd_datasets{status}`` and ``sdd_dataset_ingestion_done_ratio`` (the least advanced
  ingestion, 1 when none runs).

The page answers only the addresses in ``SDD_METRICS_ALLOWED_IPS`` (loopback by default: a
Prometheus on the same host or in front of it) or a request bearing ``SDD_METRICS_TOKEN``;
everyone else gets a 403 naming the settings.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from domain.status import JOB_STATUSES, DatasetStatus
from domain.sweeps.sweep_reads import sweep_status
from service.broker import MAX_DEVICES, queue_for
from service.db.models import Dataset, Job, WorkerNode, utcnow
from service.settings import Settings

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "<unmatched>"


class HttpMetrics:
    """The request counter and latency histogram of one app (its own registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "sdd_http_requests", "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "sdd_http_request_duration_seconds", "Time to answer an HTTP request, by route template and method.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip


class HttpMetricsMiddleware:
    """Counts and times every HTTP answer by the route it matched (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = route_template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.requests.labels(route, method, str(status[0])).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route a request matched (``/v1/jobs/{job_id}``), ``<unmatched>`` for none.

    A route of an included router knows its path below the router it was declared on; the
    segments above it in the request's path are the routers' literal prefixes.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if route is None or path is None:
        return UNMATCHED
    if isinstance(route, Mount):
        return f"{path}/{{path}}"
    actual = [part for part in scope["path"].split("/") if part]
    template = [part for part in path.split("/") if part]
    prefix = len(actual) - len(template)
    return "/" + "/".join(actual[: max(prefix, 0)] + template) if prefix >= 0 else path


class ServiceStateCollector(Collector):
    """Gauges of the service's state, read from SQL when Prometheus scrapes (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.sessions() as session:
                yield from self._families(session)
        except Exception:  # a scrape during a database outage: no state, never a 500
            log.warning("metrics: could not read the service's state from the database", exc_info=True)

    def _families(self, session: Session) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("sdd_jobs", "Jobs by status.", labels=["status"])
        counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        for status in JOB_STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        yield self._sweeps(session)
        yield from self._queues(session)
        datasets = GaugeMetricFamily("sdd_datasets", "Datasets by status.", labels=["status"])
        by_status = dict(session.execute(select(Dataset.status, func.count()).group_by(Dataset.status)).all())
        for dataset_status in DatasetStatus:
            datasets.add_metric([dataset_status.value], by_status.get(dataset_status, 0))
        yield datasets
        yield self._ingestion(session)

    def _sweeps(self, session: Session) -> GaugeMetricFamily:
        """A sweep's status derived from its members' by ``domain.sweeps.sweep_reads``' rule."""
        members: dict[str, dict[str, int]] = {}
        rows = session.execute(
            select(Job.sweep_id, Job.status, func.count())
            .where(Job.sweep_id.is_not(None))
            .group_by(Job.sweep_id, Job.status)
        )
        for sweep_id, status, count in rows:
            members.setdefault(str(sweep_id), {})[status] = count
        sweeps = GaugeMetricFamily("sdd_sweeps", "Sweeps by status (derived from their members').", labels=["status"])
        totals: dict[str, int] = dict.fromkeys(JOB_STATUSES, 0)
        for counts in members.values():
            totals[sweep_status(status for status, count in counts.items() for _ in range(count))] += 1
        for status, count in totals.items():
            sweeps.add_metric([status], count)
        return sweeps

    def _queues(self, session: Session) -> Iterator[GaugeMetricFamily]:
        devices = Job.devices
        queued = session.execute(
            select(devices, func.count(), func.min(Job.created_at)).where(Job.status == "queued").group_by(devices)
        ).all()
        alive_since = utcnow() - timedelta(seconds=self.settings.worker_alive_seconds)
        workers = dict(
            session.execute(
                select(WorkerNode.devices, func.count())
                .where(WorkerNode.seen_at >= alive_since)
                .group_by(WorkerNode.devices)
            ).all()
        )
        depth = GaugeMetricFamily("sdd_queue_jobs", "Jobs queued, by queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "sdd_queue_oldest_age_seconds", "How long the oldest queued job of a queue has waited.", labels=["queue"]
        )
        alive = GaugeMetricFamily(
            "sdd_workers_alive", "Workers seen lately, by the queue they serve.", labels=["queue"]
        )
        by_devices = {int(count_devices or 1): (count, oldest) for count_devices, count, oldest in queued}
        now = utcnow()
        for n in range(1, MAX_DEVICES + 1):
            queue = queue_for(self.settings.queue_name, n)
            count, oldest = by_devices.get(n, (0, None))
            depth.add_metric([queue], count)
            age.add_metric([queue], (now - _aware(oldest)).total_seconds() if oldest is not None else 0.0)
            alive.add_metric([queue], workers.get(n, 0))
        yield depth
        yield age
        yield alive

    def _ingestion(self, session: Session) -> GaugeMetricFamily:
        ratio = GaugeMetricFamily(
            "sdd_dataset_ingestion_done_ratio", "The least advanced running ingestion's share done (1: none runs)."
        )
        progresses = session.scalars(select(Dataset.progress).where(Dataset.status == DatasetStatus.INGESTING)).all()
        shares = [_share(progress) for progress in progresses]
        ratio.add_metric([], min(shares, default=1.0))
        return ratio


def _share(progress: dict[str, Any] | None) -> float:
    if not progress or not progress.get("total"):
        return 0.0
    return min(1.0, float(progress.get("done", 0)) / float(progress["total"]))


def _aware(moment: Any) -> Any:
    """SQLite gives naive datetimes back (stored as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def metrics_allowed(request: Request, settings: Settings) -> bool:
    """The client's address is in ``SDD_METRICS_ALLOWED_IPS`` or it bears ``SDD_METRICS_TOKEN``."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    given = request.headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(settings.metrics_allowed_ips))


def _networks(listed: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in listed.split(",") if entry.strip()]


def install_metrics(app: FastAPI, settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The middleware that counts requests, the SQL collector, and the ``/metrics`` route."""
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    registry.register(ServiceStateCollector(sessions, settings))
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics_page(request: Request) -> Response:
        if not metrics_allowed(request, settings):
            return error_response(
                403, "forbidden", "metrics are served to SDD_METRICS_ALLOWED_IPS or with SDD_METRICS_TOKEN only"
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

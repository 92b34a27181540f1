"""How an ingestion tells its worker how far it is, and learns that it must stop.

The domain's ingestion (``ingestion_run``) calls an ``IngestionReport`` at every stage and after
every image; the worker's implementation writes the dataset's progress and events (at most once
a second, fenced by its lease: ``IngestionLost`` once it no longer owns the ingestion) and raises
``IngestionStopped`` when the worker shuts down. ``RecordedReport`` keeps everything in memory
and never stops (tests, or an ingestion run by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class IngestionStopped(Exception):
    """The worker is shutting down: stop now; the ingestion goes back to waiting for a worker."""


class IngestionReport(Protocol):
    def stage(self, stage: str, total: int | None, message: str) -> None:
        """A stage begins (``listing``, ``extracting``, ``writing``, ``indexing``, ``finishing``):
        ``total`` steps of it, or None when unknown; ``message`` its event's."""
        ...

    def advance(self, done: int) -> None:
        """``done`` steps of the current stage are done (called often: throttle what is written)."""
        ...

    def event(self, type_: str, message: str, data: dict[str, Any] | None = None) -> None: ...


@dataclass
class RecordedReport:
    """Every stage and event in memory, the last ``done`` of each stage."""

    stages: list[tuple[str, int | None]] = field(default_factory=list)
    events: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)

    def stage(self, stage: str, total: int | None, message: str) -> None:
        self.stages.append((stage, total))
        self.events.append(("progress", message, {"stage": stage, "total": total}))

    def advance(self, done: int) -> None:
        self.done[self.stages[-1][0]] = done

    def event(self, type_: str, message: str, data: dict[str, Any] | None = None) -> None:
        self.events.append((type_, message, data))

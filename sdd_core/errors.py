"""Errors users can act on.

Every error carries a stable machine-readable ``code`` so that callers (the CLI, the job service)
can store or display it without parsing messages. ``SpecError`` additionally names the offending
field and, where the set is finite, the values that would have been accepted.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path


class SDDError(Exception):
    """Base class of every error ``sdd_core`` raises on purpose."""

    code: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(SDDError, ValueError):
    """A job specification that cannot be trained as written (refused before training starts)."""

    code = "invalid_spec"

    def __init__(self, field: str, message: str, allowed: Sequence[object] | None = None) -> None:
        text = f"{field}: {message}"
        if allowed is not None:
            text += f" (allowed: {', '.join(map(str, allowed))})"
        super().__init__(text)
        self.field = field
        self.allowed = list(allowed) if allowed is not None else None


class ModelError(SDDError):
    """An unknown architecture, or one that cannot be built as asked."""

    code = "model_error"


class UnsupportedForSDError(ModelError):
    """The model's head is not global pooling followed by one linear layer, so SDD cannot apply."""

    code = "unsupported_for_sd"


class WeightsUnavailableError(ModelError):
    """Pretrained weights were asked for but are not on this machine."""

    code = "weights_unavailable"


class TeacherError(SDDError):
    """The teacher checkpoint is missing, unreadable, or does not fit its architecture."""

    code = "teacher_error"


class DataError(SDDError):
    """A dataset that is missing, malformed, or cannot be read."""

    code = "dataset_error"


class DatasetNotDownloaded(DataError):
    """A built-in dataset whose files are not in the data folder, where nothing may be downloaded;
    a service names its own settings from the fields (``domain.jobs.references``)."""

    def __init__(self, title: str, missing: Sequence[str], folder: Path, data_root: Path, url: str) -> None:
        super().__init__(
            f"{title} not found: expected the extracted files {', '.join(missing)} in {folder}. Downloading is "
            f"not allowed for this job; allow downloading (`sdd train --download`), or extract {url} into {data_root}."
        )
        self.title, self.missing, self.folder, self.data_root, self.url = title, list(missing), folder, data_root, url


class NonFiniteTrainingError(SDDError):
    """Training produced non-finite losses too often to continue."""

    code = "non_finite"


def unknown_name(kind: str, value: object, known: Sequence[str], *, listed_in: str = "the catalog") -> str:
    """``unknown <kind> 'x'; did you mean 'a', 'b'?`` with at most three close names.

    The whole list is spelled out only when it is short (<= 8 names); a long one (89 architectures)
    is named by where to read it (``listed_in``) instead, so the message stays one line.
    """
    text = f"unknown {kind} {value!r}"
    close = difflib.get_close_matches(str(value), list(known), n=3, cutoff=0.6)
    if close:
        text += "; did you mean " + ", ".join(repr(name) for name in close) + "?"
    if len(known) <= 8:
        text += f" (allowed: {', '.join(known)})"
    elif listed_in:
        text += f" ({len(known)} known; {listed_in} lists them)"
    return text

"""What every upload has in common, whatever carried it: the received file, and how its row is stored.

An upload is ingested in the order *check, store the files, commit the row*; ``commit_stored``
makes the last step all-or-nothing, so a stored file never outlives a row that failed to commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session


@dataclass
class UploadedFile:
    """The uploaded file, on disk under the work folder, and the text fields sent with it."""

    path: Path
    filename: str
    size_bytes: int
    sha256: str
    fields: dict[str, str] = field(default_factory=dict)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def commit_stored(session: Session, row: Any, discard_stored: Callable[[], object]) -> None:
    """Add the row of an upload already put in the artifact store and commit it; if the commit
    fails, roll back and ``discard_stored()`` the stored files, so no file outlives its row."""
    session.add(row)
    try:
        session.commit()
    except BaseException:
        session.rollback()
        discard_stored()
        raise

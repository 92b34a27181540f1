"""The built-in datasets on this server: whether a job may name each, and the words that say why not.

A built-in (``sdd_core.data.list_datasets``: digits, cifar10, cifar100) is

* ``present``: its files are under the data root (``SDD_DATA_ROOT``; digits ships with scikit-learn);
* ``downloadable``: they are not, and the worker may download them (``SDD_ALLOW_DOWNLOAD=true``):
  the first job naming it fetches them;
* ``missing``: neither, so a job naming it is refused (``not_on_this_server``) until an operator
  extracts the files or allows downloading.

The catalog (``GET /v1/catalog``) and the New job form show this per dataset; a refusal and the
catalog name the folder looked in relative to the data root's setting
(``SDD_DATA_ROOT/cifar-10-batches-py``), never the server's own path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sdd_core.data  # what a name holds (torch) loads with the first dataset described
from domain.redaction import redact_paths
from sdd_core.errors import DataError, DatasetNotDownloaded
from service.settings import Settings

Availability = Literal["present", "downloadable", "missing"]
DATA_ROOT_SETTING = "SDD_DATA_ROOT"
DOWNLOAD_SETTING = "SDD_ALLOW_DOWNLOAD"


@dataclass(frozen=True)
class BuiltinDataset:
    """A built-in dataset as this server has it; ``note`` says what a job naming it meets when it is not present."""

    name: str
    num_classes: int | None  # None when the files are not here to say
    availability: Availability
    note: str | None = None

    @property
    def available(self) -> bool:
        """Whether a job may name it here (its files present, or downloadable)."""
        return self.availability != "missing"


def builtin_datasets(settings: Settings) -> list[BuiltinDataset]:
    """Every built-in dataset and whether this server has it, read afresh (an operator may extract one)."""
    found = []
    for name in sdd_core.data.list_datasets():
        try:
            shape = sdd_core.data.dataset_shape(name, data_root=settings.data_root, download=False)
        except DatasetNotDownloaded as exc:
            if settings.allow_download:
                note = (
                    f"not on this server yet: the first job naming it downloads {exc.title} into "
                    f"{looked_in(exc.folder, settings)} ({DOWNLOAD_SETTING} is on)"
                )
                found.append(BuiltinDataset(name, None, "downloadable", note))
            else:
                found.append(BuiltinDataset(name, None, "missing", not_on_this_server(name, exc, settings)))
        except DataError as exc:  # present but unreadable: the operator's to fix
            named = exc.message.replace(str(settings.data_root), DATA_ROOT_SETTING)
            found.append(BuiltinDataset(name, None, "missing", redact_paths(named, settings)))
        else:
            found.append(BuiltinDataset(name, shape.num_classes, "present"))
    return found


def not_on_this_server(dataset: str, exc: DatasetNotDownloaded, settings: Settings) -> str:
    """Why a built-in ``dataset`` cannot be used here, naming the settings an operator changes and
    the folder the service looked in (relative to the data root's setting)."""
    return (
        f"{dataset} is not on this server: {exc.title}'s files are not in {looked_in(exc.folder, settings)}, "
        f"where the service looked ({DATA_ROOT_SETTING} is this server's data folder, by default "
        f"$SDD_HOME/data), and {DOWNLOAD_SETTING} is off, so it may not download them. An operator can set "
        f"{DOWNLOAD_SETTING}=true (a job naming {dataset} then downloads it), or extract {exc.url} into "
        f"{DATA_ROOT_SETTING}."
    )


def looked_in(folder: Path, settings: Settings) -> str:
    """``folder`` as a user may see it: ``SDD_DATA_ROOT/<part under it>``, else redacted like any server path."""
    try:
        inside = folder.expanduser().resolve().relative_to(settings.data_root.expanduser().resolve())
    except (OSError, ValueError):
        return redact_paths(str(folder), settings)
    return f"{DATA_ROOT_SETTING}/{inside.as_posix()}" if inside.parts else DATA_ROOT_SETTING

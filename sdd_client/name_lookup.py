"""Jobs, sweeps, datasets and models named on the command line by id, id prefix or name.

Wherever a command takes an id it also takes, tried in this order:

1. the exact id (``job_`` and 24 hex digits), sent as it is;
2. a unique prefix of an id: the kind's ``job_``/``swp_``/``ds_``/``mdl_`` and at least
   ``MIN_PREFIX_HEX`` hex digits (``job_b873ea93``), as ``git`` takes a short commit;
3. an exact name: that of one of yours.

Several matches are a usage error (exit 2) listing them, id and name; none is ``not_found``
naming what was tried. In a submission (``resolve_names``: ``--dataset``, ``--teacher-job``,
``--teacher-model``, ``--init-model``) a value that matches nothing is sent as typed instead: a
built-in dataset such as ``digits``, or a typo the server refuses with close names.

Prefixes and most names are looked up in your listing, page by page (the job list filters by name
on the server); an exact id costs no request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from sdd_client.cli_support import EXIT_REFUSED, fail
from sdd_client.client import SDDClient

MIN_PREFIX_HEX = 6
ID_HEX = 24
SHOWN_CANDIDATES = 10
JOB_NAME_FILTER_MAX = 100  # GET /v1/jobs?name= takes at most this many characters (a job's name too)


class Named(Protocol):
    """A job, sweep, dataset or model as a listing returns it."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str | None: ...


@dataclass(frozen=True)
class Kind:
    """What an argument names: ``job`` ids start ``job_``, and ``sdd jobs list`` shows them."""

    noun: str
    prefix: str
    listing: str
    items: Callable[[SDDClient, str | None], Iterable[Named]]  # yours; a name to narrow them by, if it can

    def is_id(self, value: str) -> bool:
        return re.fullmatch(rf"{self.prefix}[0-9a-f]{{{ID_HEX}}}", value) is not None

    def is_prefix(self, value: str) -> bool:
        return re.fullmatch(rf"{self.prefix}[0-9a-f]{{{MIN_PREFIX_HEX},{ID_HEX - 1}}}", value) is not None


def _jobs(client: SDDClient, name: str | None) -> Iterable[Named]:
    if name is not None and len(name) > JOB_NAME_FILTER_MAX:
        return []  # longer than any job's name
    return client.iter_jobs(name=name)


JOBS = Kind("job", "job_", "sdd jobs list", _jobs)
SWEEPS = Kind("sweep", "swp_", "sdd sweeps list", lambda client, name: client.iter_sweeps())
DATASETS = Kind("dataset", "ds_", "sdd datasets list", lambda client, name: client.iter_datasets())
MODELS = Kind("model", "mdl_", "sdd models list", lambda client, name: client.iter_models())


@dataclass(frozen=True)
class _Ref:
    id: str
    name: str | None


@dataclass(frozen=True)
class Lookup:
    """What ``value`` matched: by ``how`` ("id", "id prefix", "name"), the ``found`` ones (none when nothing did)."""

    value: str
    how: str
    found: list[Named]


def look_up(client: SDDClient, kind: Kind, value: str) -> Lookup:
    """The exact id, else the ids ``value`` starts, else the ones named ``value``."""
    if kind.is_id(value):
        return Lookup(value, "id", [_Ref(value, None)])
    if kind.is_prefix(value):
        found = [item for item in kind.items(client, None) if item.id.startswith(value)]
        if found:
            return Lookup(value, "id prefix", found)
    return Lookup(value, "name", [item for item in kind.items(client, value) if item.name == value])


def resolve_id(client: SDDClient, kind: Kind, value: str) -> str:
    """The id ``value`` names; exits 2 when it names none or several (see the module's docstring)."""
    lookup = look_up(client, kind, value)
    if len(lookup.found) == 1:
        return lookup.found[0].id
    if lookup.found:
        _ambiguous(kind, lookup)
    tried = [f"not a {kind.noun} id ({kind.prefix} and {ID_HEX} hex digits)"]
    if kind.is_prefix(value):
        tried.append(f"no {kind.noun} id of yours starts with it")
    elif value.startswith(kind.prefix):
        tried.append(f"not an id prefix either ({kind.prefix} and at least {MIN_PREFIX_HEX} hex digits)")
    tried.append(f"none of your {kind.noun}s is named so")
    fail("not_found", f"no {kind.noun} matches {value!r}: {'; '.join(tried)} (`{kind.listing}` shows them)")


def resolve_ids(client: SDDClient, kind: Kind, values: Iterable[str]) -> list[str]:
    return [resolve_id(client, kind, value) for value in values]


def _ambiguous(kind: Kind, lookup: Lookup) -> NoReturn:
    shown = lookup.found[:SHOWN_CANDIDATES]
    more = len(lookup.found) - len(shown)
    candidates = ", ".join(f"{item.id} ({item.name or 'no name'})" for item in shown) + (
        f" and {more} more" if more else ""
    )
    what = "start with" if lookup.how == "id prefix" else "are named"
    fail(
        "ambiguous",
        f"{len(lookup.found)} {kind.noun}s {what} {lookup.value!r}: {candidates}; give the id",
        EXIT_REFUSED,
    )


def _sent_as_typed(client: SDDClient, kind: Kind, value: str) -> str:
    """The id ``value`` names, or ``value`` itself when it names nothing (the server judges it)."""
    lookup = look_up(client, kind, value)
    if len(lookup.found) > 1:
        _ambiguous(kind, lookup)
    return lookup.found[0].id if lookup.found else value


def resolve_names(client: SDDClient, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a job spec, or a sweep's base) with the dataset, teacher and init named by id."""
    resolved = dict(body)
    if isinstance(resolved.get("dataset"), str):
        resolved["dataset"] = _sent_as_typed(client, DATASETS, resolved["dataset"])
    for field in ("teacher", "init"):
        ref = resolved.get(field)
        if not isinstance(ref, dict):
            continue
        for key, kind in (("model", MODELS), ("job", JOBS)):
            if isinstance(ref.get(key), str):
                ref = ref | {key: _sent_as_typed(client, kind, ref[key])}
        resolved[field] = ref
    return resolved

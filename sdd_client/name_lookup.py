"""Datasets and models named by what their owner called them, not only by id, on the command line.

``--dataset flowers`` and ``--teacher-model my-resnet`` become ids before the body is sent: a
value with the id prefix (``ds_``/``mdl_``) is sent as it is; another is looked up among the
tenant's own uploads by name. No match leaves it as typed (a built-in dataset such as ``digits``,
or a typo the server refuses with close names); two matches are an error listing their ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from sdd_client.client import SDDClient


def _by_name(kind: str, value: str, prefix: str, items: Iterable[Any]) -> str:
    if value.startswith(prefix):
        return value
    matches = [item.id for item in items if item.name == value]
    if len(matches) > 1:
        raise click.UsageError(f"{len(matches)} {kind}s are named {value!r} ({', '.join(matches)}); give the id")
    return matches[0] if matches else value


def resolve_names(client: SDDClient, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a job spec, or a sweep's base) with dataset and model names turned into ids."""
    resolved = dict(body)
    if isinstance(resolved.get("dataset"), str):
        resolved["dataset"] = _by_name("dataset", resolved["dataset"], "ds_", client.iter_datasets())
    for field in ("teacher", "init"):
        ref = resolved.get(field)
        if isinstance(ref, dict) and isinstance(ref.get("model"), str):
            resolved[field] = ref | {"model": _by_name("model", ref["model"], "mdl_", client.iter_models())}
    return resolved

"""Tenants never see the service's own folders: messages shown to them name places they know.

An uploaded dataset's folder becomes ``<dataset ds_…>`` (a bad image's path inside it stays
useful), the other service folders become ``<artifacts>``, ``<work>``, ``<data>``, ``<sdd_home>``.
Operators keep the full text in the logs.
"""

from __future__ import annotations

import re

from service.artifacts import dataset_key
from service.settings import Settings


def redact_paths(message: str, settings: Settings) -> str:
    """``message`` with the service's folders replaced by names a user can relate to."""
    assert settings.artifact_dir and settings.work_dir and settings.data_root
    datasets = str(settings.artifact_dir / dataset_key("ds_0")).removesuffix("ds_0")
    message = re.sub(re.escape(datasets) + r"(ds_[0-9a-z]+)", r"<dataset \1>", message)
    roots = {
        str(settings.artifact_dir): "<artifacts>",
        str(settings.work_dir): "<work>",
        str(settings.data_root): "<data>",
        str(settings.home): "<sdd_home>",
    }
    for root in sorted(roots, key=len, reverse=True):  # nested folders before their parents
        message = message.replace(root, roots[root])
    return message

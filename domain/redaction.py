"""Tenants never see the service's own folders: messages shown to them name places they know.

An uploaded dataset's folder becomes ``<dataset ds_…>`` (a bad image's path inside it stays
useful), the other service folders become ``<artifacts>``, ``<work>``, ``<data>``, ``<sdd_home>``,
the pretrained-weight caches ``<torch hub cache>`` and ``<Hugging Face cache>`` (the path of a
missing file inside them stays, it says what to copy where), and the server's home folder ``~``.
Operators keep the full text in the logs.
"""

from __future__ import annotations

import re
from pathlib import Path

from service.artifacts import dataset_key
from service.settings import Settings


def redact_paths(message: str, settings: Settings) -> str:
    """``message`` with the service's folders replaced by names a user can relate to."""
    datasets = str(settings.artifact_dir / dataset_key("ds_0")).removesuffix("ds_0")
    message = re.sub(re.escape(datasets) + r"(ds_[0-9a-z]+)", r"<dataset \1>", message)
    roots = {
        str(settings.artifact_dir): "<artifacts>",
        str(settings.work_dir): "<work>",
        str(settings.data_root): "<data>",
        str(settings.home): "<sdd_home>",
        **{str(root): name for root, name in weight_cache_roots().items()},
        str(Path.home()): "~",
    }
    for root in sorted(roots, key=len, reverse=True):  # nested folders before their parents
        message = message.replace(root, roots[root])
    return message


def weight_cache_roots() -> dict[Path, str]:
    """The folders pretrained weights are read from, as a message names them."""
    import torch  # imported here: only a message about weights needs it

    from sdd_core.models.timm_zoo import hf_cache_dir

    return {Path(torch.hub.get_dir()): "<torch hub cache>", hf_cache_dir(): "<Hugging Face cache>"}

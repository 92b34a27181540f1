"""Run Python code in a fresh interpreter where some top-level packages cannot be imported.

A meta-path finder, installed before the code runs, raises ``ImportError`` for the named
packages and their submodules, as on a machine that has only the client installed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_SIDE = (
    "torch",
    "torchvision",
    "sqlalchemy",
    "fastapi",
    "celery",
    "service",
    "domain",
    "api",
    "worker",
    "sdd_core",
    "sdd_cli",
)

_FINDER = """
import sys

class _Blocked:
    names = frozenset({names!r})

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{{name}} is blocked: not installed on a client-only machine")
        return None

sys.meta_path.insert(0, _Blocked())
"""


def run_without(packages: Iterable[str], code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -c`` with ``packages`` unimportable; run from the repository root."""
    prelude = _FINDER.format(names=sorted(set(packages)))
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )

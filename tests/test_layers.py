"""Imports point down only::

    sdd_core  <-  domain, service  <-  api, worker  <-  sdd_cli (the ``sdd`` command)
    sdd_client  <-  domain, service, api, worker, sdd_cli

``sdd_client`` imports none of the server's packages (it talks to a server over HTTP and installs
without one); the server may import it, for what both sides share: the job statuses, the plots,
the report's Markdown.

Every import statement of every module counts, including those inside functions and under
``TYPE_CHECKING``: an import hidden in a function is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sdd_core", "domain", "service", "api", "worker", "sdd_client", "sdd_cli")

FORBIDDEN: dict[str, frozenset[str]] = {
    "sdd_core": frozenset({"domain", "service", "api", "worker", "sdd_client", "sdd_cli"}),
    "domain": frozenset({"api", "worker", "sdd_cli"}),
    "service": frozenset({"api", "worker", "sdd_cli"}),
    "api": frozenset({"sdd_cli"}),
    "worker": frozenset({"sdd_cli"}),
    "sdd_client": frozenset({"sdd_core", "domain", "service", "api", "worker", "sdd_cli"}),
}


def imported_packages(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a module."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(package: str) -> list[str]:
    forbidden = FORBIDDEN[package]
    return [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {imported}"
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for line, imported in imported_packages(path)
        if imported in forbidden
    ]


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_imports_point_down_only(package: str) -> None:
    assert (REPO_ROOT / package).is_dir(), package
    found = violations(package)
    assert not found, f"{package} may not import {', '.join(sorted(FORBIDDEN[package]))}:\n" + "\n".join(found)


def test_the_rules_name_every_package_but_the_command_on_top() -> None:
    assert set(FORBIDDEN) == set(PACKAGES) - {"sdd_cli"}


def test_the_finder_sees_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        "import os.path\nfrom api.app import x\nfrom . import sibling\ndef f():\n    import worker.tasks\n"
    )
    assert sorted(imported_packages(module)) == [(1, "os"), (2, "api"), (5, "worker")]

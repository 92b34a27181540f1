"""Every third-party module the code imports comes from a distribution its pyproject declares.

The server's packages (sdd_core, domain, service, api, worker, sdd_cli, migrations) against
sdd-jobs' dependencies and optional extras, sdd_client against sdd-client's, and the tests against
either's, test extras included. Imports are read from the source (every ``import``, those inside
functions and ``TYPE_CHECKING`` blocks too) and mapped to distributions with
``importlib.metadata.packages_distributions()``, as installed in this environment.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER = ("sdd_core", "domain", "service", "api", "worker", "sdd_cli", "migrations")
FIRST_PARTY = frozenset({*SERVER, "sdd_client", "tests", "scripts", "benchmarks", "examples"})


def declared(pyproject: Path, *, extras: Iterable[str] = ()) -> set[str]:
    """Canonical names of the project's dependencies and of the named optional extras'."""
    project = tomllib.loads(pyproject.read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return {canonicalize_name(Requirement(text).name) for text in texts}


def extras_of(pyproject: Path) -> list[str]:
    return list(tomllib.loads(pyproject.read_text())["project"].get("optional-dependencies", {}))


def third_party_imports(folders: Iterable[str]) -> dict[str, set[str]]:
    """Top-level module -> the files that import it, for everything outside the stdlib and this repo."""
    found: dict[str, set[str]] = defaultdict(set)
    for folder in folders:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY and top != "__future__":
                        found[top].add(str(path.relative_to(REPO_ROOT)))
    return found


def undeclared(imports: dict[str, set[str]], allowed: set[str]) -> list[str]:
    """One line per module whose distribution is not in ``allowed`` (or that nothing installs)."""
    owners = packages_distributions()
    problems = []
    for module, files in sorted(imports.items()):
        distributions = {canonicalize_name(name) for name in owners.get(module, [])}
        where = ", ".join(sorted(files)[:3]) + (" …" if len(files) > 3 else "")
        if not distributions:
            problems.append(f"{module}: imported ({where}) but no installed distribution provides it")
        elif not distributions & allowed:
            problems.append(f"{module}: from {sorted(distributions)}, imported ({where}) but not declared")
    return problems


SERVER_PYPROJECT = REPO_ROOT / "pyproject.toml"
CLIENT_PYPROJECT = REPO_ROOT / "client" / "pyproject.toml"


def test_the_server_packages_import_only_what_sdd_jobs_declares() -> None:
    runtime_extras = [extra for extra in extras_of(SERVER_PYPROJECT) if extra != "test"]
    allowed = declared(SERVER_PYPROJECT, extras=runtime_extras)
    imports = third_party_imports(SERVER)
    assert {"torch", "fastapi", "sqlalchemy", "celery"} <= set(imports)  # the scan sees the code
    assert undeclared(imports, allowed) == []


def test_the_client_imports_only_what_sdd_client_declares() -> None:
    allowed = declared(CLIENT_PYPROJECT, extras=extras_of(CLIENT_PYPROJECT))
    imports = third_party_imports(["sdd_client"])
    assert {"httpx", "click", "matplotlib"} <= set(imports)
    assert undeclared(imports, allowed) == []


def test_the_tests_import_only_what_either_distribution_declares() -> None:
    allowed = declared(SERVER_PYPROJECT, extras=extras_of(SERVER_PYPROJECT)) | declared(
        CLIENT_PYPROJECT, extras=extras_of(CLIENT_PYPROJECT)
    )
    assert undeclared(third_party_imports(["tests"]), allowed) == []


def test_an_undeclared_import_is_named_with_its_file() -> None:
    imports = {"jinja2": {"api/ui/rendering.py"}, "no_such_module_here": {"api/x.py"}}
    problems = undeclared(imports, allowed={"fastapi"})
    assert problems == [
        "jinja2: from ['jinja2'], imported (api/ui/rendering.py) but not declared",
        "no_such_module_here: imported (api/x.py) but no installed distribution provides it",
    ]

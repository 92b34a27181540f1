"""Two distributions, one owner each: sdd-client ships ``sdd_client`` and the ``sdd`` command,
sdd-jobs depends on it (the same version) and gives that command every other command.

The wheels are built from copies of the sources (no build/ or *.egg-info in the checkout). The
client-only environment is a plain venv holding the client wheel and, linked from .venv, only the
distributions the client requires (no network, no torch, no server packages).
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = ("sdd_core", "domain", "service", "api", "worker", "sdd_cli")
SERVER_COMMANDS = ("api", "worker", "up", "migrate", "token", "train", "health")
CLIENT_COMMANDS = ("login", "jobs", "sweeps", "datasets", "models", "catalog")


@dataclass(frozen=True)
class Wheel:
    path: Path
    names: frozenset[str]
    metadata: Message
    entry_points: str

    @classmethod
    def read(cls, path: Path) -> Wheel:
        with zipfile.ZipFile(path) as archive:
            names = frozenset(archive.namelist())
            info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
            metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
            entry_points = archive.read(f"{info}/entry_points.txt").decode()
        return cls(path, names, metadata, entry_points)

    def requires(self) -> list[Requirement]:
        return [Requirement(text) for text in self.metadata.get_all("Requires-Dist") or []]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Wheel]:
    """``pip wheel --no-deps ./client .`` on copies of both projects."""
    source = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO_ROOT / "client", source / "client", symlinks=True, ignore=_untracked)
    shutil.copytree(REPO_ROOT / "sdd_client", source / "sdd_client", ignore=_untracked)
    for name in (*SERVER_PACKAGES, "migrations"):
        shutil.copytree(REPO_ROOT / name, source / name, ignore=_untracked)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheels")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check"]
        + ["--wheel-dir", str(out), str(source / "client"), str(source)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {name: Wheel.read(next(out.glob(f"{name.replace('-', '_')}-*.whl"))) for name in ("sdd-client", "sdd-jobs")}


def _untracked(folder: str, names: list[str]) -> set[str]:
    return {name for name in names if name in ("__pycache__", "build") or name.endswith(".egg-info")}


def test_only_the_client_wheel_holds_sdd_client_and_only_it_declares_sdd(wheels: dict[str, Wheel]) -> None:
    client, server = wheels["sdd-client"], wheels["sdd-jobs"]
    assert {name.split("/")[0] for name in client.names} == {"sdd_client", "sdd_client-0.1.0.dist-info"}
    assert "sdd_client/__init__.py" in client.names and "sdd_client/cli.py" in client.names
    assert not any(name.startswith("sdd_client/") for name in server.names)
    assert {f"{package}/__init__.py" for package in SERVER_PACKAGES} <= server.names

    declaring = [name for name, wheel in wheels.items() if _console_scripts(wheel).get("sdd")]
    assert declaring == ["sdd-client"]
    assert _console_scripts(client) == {"sdd": "sdd_client.cli:sdd_main"}
    assert "[sdd.cli]\nsdd = sdd_cli.main:cli" in server.entry_points


def test_sdd_jobs_requires_the_same_sdd_client_with_its_plots(wheels: dict[str, Wheel]) -> None:
    client, server = wheels["sdd-client"], wheels["sdd-jobs"]
    (requirement,) = [req for req in server.requires() if canonicalize_name(req.name) == "sdd-client"]
    assert str(requirement.specifier) == f"=={client.metadata['Version']}"
    assert requirement.extras == {"plot"}  # the server draws the curves with the client's plots
    assert server.metadata["Version"] == client.metadata["Version"]
    client_project = tomllib.loads((REPO_ROOT / "client" / "pyproject.toml").read_text())["project"]
    assert client.metadata["Version"] == client_project["version"]


def test_sdd_in_this_venv_has_every_command() -> None:
    """The installed ``sdd`` script (sdd-client's) finds sdd-jobs' entry point."""
    assert _console_scripts_installed("sdd-client") == {"sdd": "sdd_client.cli:sdd_main"}
    assert "sdd" not in _console_scripts_installed("sdd-jobs")
    script = Path(sysconfig.get_path("scripts")) / "sdd"
    done = subprocess.run([str(script), "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: sdd [OPTIONS] COMMAND")
    for command in (*SERVER_COMMANDS, *CLIENT_COMMANDS):
        assert f"\n  {command} " in done.stdout, command


@pytest.fixture(scope="module")
def client_only_venv(wheels: dict[str, Wheel], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with the client wheel and its requirements' distributions (linked from .venv) alone."""
    venv = tmp_path_factory.mktemp("client-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index"]
        + ["--disable-pip-version-check", "--quiet", str(wheels["sdd-client"].path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in _closure("sdd-client"):
        _link_distribution(name, site)
    yield venv


def test_sdd_with_the_client_alone_has_the_client_commands(client_only_venv: Path) -> None:
    done = subprocess.run(
        [str(client_only_venv / "bin" / "sdd"), "--help"], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: sdd [OPTIONS] COMMAND")
    for command in CLIENT_COMMANDS:
        assert f"\n  {command} " in done.stdout, command
    for command in SERVER_COMMANDS:
        assert f"\n  {command} " not in done.stdout, command

    python = str(client_only_venv / "bin" / "python")
    probe = (
        "import importlib.util as u; print([m for m in ('torch', 'fastapi', 'sdd_cli', 'service') if u.find_spec(m)])"
    )
    found = subprocess.run([python, "-I", "-c", probe], check=True, capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == "[]"  # a genuine client-only environment
    module = subprocess.run(
        [python, "-I", "-m", "sdd_client", "--help"], check=False, capture_output=True, text=True, timeout=60
    )
    assert module.returncode == 0 and "Usage: python -m sdd_client" in module.stdout, module.stderr


# ---------------------------------------------------------------- installed metadata


def _console_scripts(wheel: Wheel) -> dict[str, str]:
    section, scripts = "", {}
    for line in wheel.entry_points.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section == "console_scripts":
            name, value = (part.strip() for part in line.split("=", 1))
            scripts[name] = value
    return scripts


def _console_scripts_installed(name: str) -> dict[str, str]:
    return {entry.name: entry.value for entry in distribution(name).entry_points.select(group="console_scripts")}


def _closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """``name`` and every distribution its requirements (for ``extras``) bring, as installed here."""
    seen: set[str] = set()
    pending = [(name, extras)]
    while pending:
        current, wanted = pending.pop()
        for text in distribution(current).requires or []:
            requirement = Requirement(text)
            markers = [{"extra": extra} for extra in wanted or {""}]
            if requirement.marker is not None and not any(requirement.marker.evaluate(m) for m in markers):
                continue
            key = canonicalize_name(requirement.name)
            try:
                distribution(key)
            except PackageNotFoundError:
                continue  # an environment-marker dependency of another platform or Python
            if key not in seen:
                seen.add(key)
                pending.append((key, frozenset(requirement.extras)))
    return seen


def _link_distribution(name: str, site: Path) -> None:
    """Symlink a distribution's top-level files and folders (and its .dist-info) into ``site``."""
    dist = distribution(name)
    base = Path(str(dist.locate_file("")))
    tops = {Path(str(file)).parts[0] for file in dist.files or [] if not str(file).startswith("..")}
    for top in tops:
        target, link = base / top, site / top
        if (target.exists() or target.is_symlink()) and not link.exists() and top != "__pycache__":
            link.symlink_to(target)

"""The client installs and runs on its own: a wheel of ``client/`` and imports without the server."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from tests.sdd_client.blocked_imports import REPO_ROOT, SERVER_SIDE, run_without

SERVER_DEPENDENCIES = ("torch", "torchvision", "sqlalchemy", "fastapi", "celery", "uvicorn", "alembic")


def _build_wheel(tmp_path: Path) -> Path:
    """``pip wheel ./client`` on a copy of ``client/`` whose ``sdd_client`` link resolves to the
    repository's package, so the build's ``build/`` and ``*.egg-info`` stay out of the checkout."""
    source = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "client", source / "client", symlinks=True)
    (source / "sdd_client").symlink_to(REPO_ROOT / "sdd_client", target_is_directory=True)
    out = tmp_path / "wheels"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--wheel-dir",
            str(out),
            str(source / "client"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("sdd_client-*.whl")
    return wheel


def test_the_client_wheel_holds_the_package_and_needs_no_server_dependency(tmp_path: Path) -> None:
    assert (REPO_ROOT / "client" / "sdd_client").resolve() == (REPO_ROOT / "sdd_client").resolve()
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
        (entry_points_name,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(entry_points_name).decode()

    sources = {f"sdd_client/{path.name}" for path in (REPO_ROOT / "sdd_client").glob("*.py")}
    assert sources <= names, sources - names
    assert {name.split("/")[0] for name in names} == {"sdd_client", "sdd_client-0.1.0.dist-info"}
    assert not any("__pycache__" in name for name in names)
    assert metadata["Name"] == "sdd-client"
    requires = [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]
    always = {req.name.lower() for req in requires if req.marker is None}
    assert {"httpx", "click", "rich", "pydantic"} <= always
    assert not {req.name.lower() for req in requires} & set(SERVER_DEPENDENCIES), requires
    (plot,) = [req for req in requires if req.marker is not None]
    assert plot.name == "matplotlib" and plot.marker.evaluate({"extra": "plot"})
    assert "sdd = sdd_client.cli:sdd_main" in entry_points


def test_the_client_imports_and_its_help_renders_without_the_server_packages() -> None:
    code = (
        "import sdd_client, sdd_client.cli\n"
        "from click.testing import CliRunner\n"
        "runner = CliRunner()\n"
        "for args in ([], ['jobs'], ['models']):\n"
        "    result = runner.invoke(sdd_client.cli.cli, [*args, '--help'], prog_name='sdd')\n"
        "    assert result.exit_code == 0, result.output\n"
        "    print(result.output)\n"
    )
    done = run_without(SERVER_SIDE, code)
    assert done.returncode == 0, done.stderr
    assert "Usage: sdd [OPTIONS] COMMAND" in done.stdout
    for command in ("login", "jobs", "datasets", "models", "catalog", "submit", "compare", "upload"):
        assert f"  {command} " in done.stdout, command

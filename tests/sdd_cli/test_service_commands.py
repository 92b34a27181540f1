"""``sdd migrate`` and ``sdd token …`` on the embedded default (SQLite under a temp ``SDD_HOME``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sdd_cli.main import cli
from sdd_cli.up_process import pid_path
from service import migrate
from service.db.session import session_scope
from service.tokens import authenticate


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_migrate_then_token_lifecycle(runner, sdd_env) -> None:
    settings = sdd_env()
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    assert migrate.head_revision() in result.stdout
    assert migrate.current_revision(str(settings.database_url)) == migrate.head_revision()
    assert (settings.home / "sdd.sqlite").exists() and settings.artifact_dir.is_dir()

    result = runner.invoke(cli, ["token", "create", "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    with session_scope() as session:
        tenant = authenticate(session, token)
        assert tenant is not None and tenant.name == "acme"

    listing = runner.invoke(cli, ["token", "list", "--tenant", "acme"])
    assert listing.exit_code == 0, listing.output
    assert token not in listing.output
    header, _, row = listing.stdout.splitlines()  # a header, its rule, one token
    assert header.split() == ["id", "prefix", "tenant", "created", "status"]
    token_id, prefix = row.split()[:2]
    assert token_id.startswith("tok_") and token.startswith(prefix.rstrip("…")) and row.endswith("active")

    assert runner.invoke(cli, ["token", "revoke", token_id]).exit_code == 0
    again = runner.invoke(cli, ["token", "revoke", token_id])
    assert again.exit_code != 0 and "no active token" in again.output
    with session_scope() as session:
        assert authenticate(session, token) is None
    assert "revoked" in runner.invoke(cli, ["token", "list"]).stdout


def test_token_create_before_migrate_says_what_to_do(runner, sdd_env) -> None:
    sdd_env()
    result = runner.invoke(cli, ["token", "create", "--tenant", "acme"])
    assert result.exit_code != 0
    assert "sdd migrate" in result.output


def test_token_create_while_sdd_up_migrates_says_to_retry(runner, sdd_env) -> None:
    """What the README's first lines once met: `sdd up &`, then at once `sdd token create`."""
    settings = sdd_env()
    settings.ensure_dirs()
    # a stand-in for a starting `sdd up`: a live process with that command line, in the pid file
    up = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sdd", "up"])
    try:
        pid_path(settings.home).write_text(f"{up.pid}\n")
        result = runner.invoke(cli, ["token", "create", "--tenant", "acme"])
        assert result.exit_code != 0
        assert f"sdd up (pid {up.pid}) is starting" in result.output and "retry in a few seconds" in result.output
        assert "sdd migrate" not in result.output
    finally:
        up.kill()
        up.wait()
    result = runner.invoke(cli, ["token", "create", "--tenant", "acme"])  # its pid file left behind: stale
    assert result.exit_code != 0 and "run `sdd migrate` first" in result.output


def test_python_m_sdd_cli_prints_the_token_last(sdd_env) -> None:
    """A real process, as an operator runs it: the last stdout line is a working token."""
    settings = sdd_env()
    migrate.upgrade()
    process = subprocess.run(
        [sys.executable, "-m", "sdd_cli", "token", "create", "--tenant", "ops"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert process.returncode == 0, process.stderr
    token = process.stdout.strip().splitlines()[-1]
    with session_scope(settings) as session:
        assert authenticate(session, token).name == "ops"
    # Its own two lines only: no log lines of the migration check (Alembic's plugins, its context).
    assert process.stdout.strip() == token
    assert len(process.stderr.strip().splitlines()) == 1, process.stderr
    assert process.stderr.startswith("created token tok_"), process.stderr

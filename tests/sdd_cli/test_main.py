"""The assembled ``sdd`` group: every part's commands, and a help that loads no heavy stack."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from sdd_cli.main import cli

LIBRARY = ("train", "evaluate", "models")
SERVICE = ("migrate", "token", "api", "worker", "up")
CLIENT = ("login", "jobs", "datasets", "catalog")


def test_help_lists_every_part_s_commands() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for command in (*LIBRARY, *SERVICE, *CLIENT):
        assert f"  {command} " in result.output, command
    token_help = runner.invoke(cli, ["token", "--help"]).output
    assert all(f"  {sub} " in token_help for sub in ("create", "list", "revoke"))
    models_help = runner.invoke(cli, ["models", "--help"]).output
    assert all(f"  {sub} " in models_help for sub in ("upload", "list"))


def test_help_imports_neither_torch_nor_the_web_stack_nor_celery() -> None:
    code = (
        "import sys; from sdd_cli.main import cli; cli(['--help'], standalone_mode=False); "
        "heavy = {'torch', 'torchvision', 'uvicorn', 'fastapi', 'celery', 'api', 'worker'}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout

"""The ``sdd`` commands that talk to a server: ``login``, ``jobs …``, ``sweeps …``, ``datasets …``
(``sdd_client.dataset_commands``), ``models upload|list`` and ``catalog``.

Two ways to get them:

- ``register(group)`` attaches them to the full ``sdd`` group (``sdd_cli.main`` calls it), where
  ``sdd models`` without a subcommand still lists the local model zoo (``sdd_core``); ``upload``
  and ``list`` join that group here, so ``sdd_core`` stays free of HTTP.
- ``cli``/``main()``: a group of the client commands alone (``python -m sdd_client``), for a
  machine that has only the client's dependencies (no torch, no server).

``sdd_main()`` is the ``sdd`` console script, which only the ``sdd-client`` distribution declares
(``client/pyproject.toml``): it runs the command a distribution names in the ``sdd.cli`` entry-point
group, which ``sdd-jobs`` does (``sdd_cli.main:cli``, every command), else the client's ``cli``.

Human tables by default, ``--json`` on every read command; exit codes in ``sdd_client.cli_support``.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import entry_points
from pathlib import Path

import click

from sdd_client.cli_support import (
    connect,
    connection_options,
    console,
    json_option,
    print_json,
    reports_errors,
)
from sdd_client.config import TOKEN_ENV, write_config_file
from sdd_client.dataset_commands import datasets_group
from sdd_client.job_commands import jobs_group
from sdd_client.server_readiness import wait_until_ready
from sdd_client.sweep_commands import sweeps_group
from sdd_client.tables import catalog_view, models_table

UPLOAD_PATH = click.Path(path_type=Path, dir_okay=False, exists=True)
LOGIN_WAIT_S = 120.0


@click.command("login")
@click.option("--url", required=True, help="Server URL, e.g. http://127.0.0.1:8000.")
@click.option("--token", prompt=True, hide_input=True, help="API token (`sdd token create` on the server).")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    is_flag=False,
    flag_value=LOGIN_WAIT_S,
    default=0,
    metavar="[SECONDS]",
    help=f"Wait for a server that is starting (default {LOGIN_WAIT_S:g} s) instead of failing at once.",
)
@reports_errors
def login_command(url: str, token: str, wait_s: float) -> None:
    """Check a URL and token against the server and save them for later commands.

    They are saved, readable by you only (mode 0600), in $SDD_CONFIG if set, else
    $XDG_CONFIG_HOME/sdd/config.json, else ~/.config/sdd/config.json. SDD_URL and SDD_TOKEN, when
    set, win over what is saved: unset them to use it.
    """
    with connect(url, token, logging_in=True) as client:
        wait_until_ready(client, wait_s)
        catalog = client.catalog()
        server_url = client.url
    path = write_config_file(server_url, token)
    click.echo(
        f"logged in to {server_url} ({len(catalog.architectures)} architectures, "
        f"{len(catalog.methods)} methods); saved to {path} (mode 0600)"
    )
    if os.environ.get(TOKEN_ENV, token) != token:
        click.echo(
            f"note: ${TOKEN_ENV} is set in this shell and wins over the saved token; unset it to use this one", err=True
        )


@click.command("catalog")
@json_option
@connection_options
@reports_errors
def catalog_command(url: str | None, token: str | None, as_json: bool) -> None:
    """What jobs on the server may name: methods and their defaults, architectures, datasets, limits."""
    with connect(url, token) as client:
        catalog = client.catalog()
    print_json(catalog) if as_json else console().print(catalog_view(catalog))


# ---------------------------------------------------------------- models (added to sdd_core's group)


@click.command("upload")
@click.argument("path", type=UPLOAD_PATH)
@click.option("--arch", required=True, help="Architecture of the weights (see `sdd catalog`).")
@click.option("--num-classes", type=click.IntRange(min=1), required=True, help="Outputs of its classifier.")
@click.option("--name", help="A name to recognise it by (default: the file name).")
@json_option
@connection_options
@reports_errors
def model_upload(
    url: str | None, token: str | None, as_json: bool, path: Path, arch: str, num_classes: int, name: str | None
) -> None:
    """Upload teacher weights (safetensors state_dict) to the server; prints the model id."""
    with connect(url, token) as client:
        model = client.upload_model(path, arch, num_classes, name=name)
    if as_json:
        print_json(model)
        return
    click.echo(f"uploaded {model.arch} ({model.num_classes} classes); use it as --teacher-model {model.id}", err=True)
    click.echo(model.id)


@click.command("list")
@json_option
@connection_options
@reports_errors
def model_list(url: str | None, token: str | None, as_json: bool) -> None:
    """Teacher weights you uploaded to the server, newest first."""
    with connect(url, token) as client:
        models = list(client.iter_models())
    print_json(models) if as_json else console().print(models_table(models))


# ---------------------------------------------------------------- registration


def register(group: click.Group) -> None:
    """Attach the client commands to an ``sdd`` group that already has a ``models`` group."""
    for command in (login_command, catalog_command, jobs_group, sweeps_group, datasets_group):
        if command.name in group.commands:
            raise RuntimeError(f"`sdd {command.name}` already exists; the client commands would shadow it")
        group.add_command(command)
    models = group.commands.get("models")
    if not isinstance(models, click.Group):
        raise RuntimeError("`sdd models` must be a click group for `sdd models upload|list` to join it")
    models.add_command(model_upload)
    models.add_command(model_list)


# ---------------------------------------------------------------- the client on its own


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log every HTTP request.")
def cli(verbose: bool) -> None:
    """The sdd-jobs client: submit, follow and fetch distillation jobs on a server."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@cli.group("models")
def models_group() -> None:
    """Teacher weights uploaded to the server."""


register(cli)


def main(prog_name: str = "sdd") -> None:
    cli(prog_name=prog_name)


# ---------------------------------------------------------------- the `sdd` console script

COMMAND_ENTRY_POINT_GROUP = "sdd.cli"  # sdd-jobs: sdd = "sdd_cli.main:cli"


def sdd_command() -> click.Command:
    """The ``sdd`` command: the one an installed distribution names ``sdd`` in the ``sdd.cli``
    entry-point group (sdd-jobs' full group), else the client commands alone."""
    for entry in entry_points(group=COMMAND_ENTRY_POINT_GROUP, name="sdd"):
        command = entry.load()
        if not isinstance(command, click.Command):
            raise TypeError(f"entry point {entry.value!r} ({COMMAND_ENTRY_POINT_GROUP}) is not a click command")
        return command
    return cli


def sdd_main() -> None:
    """The ``sdd`` console script."""
    sdd_command()(prog_name="sdd")

"""``python -m sdd_client …``: the client commands without the rest of ``sdd``.

The same commands as ``sdd login|jobs|datasets|models upload|list|catalog``, for a machine that
has only the client's dependencies (no torch): ``sdd`` itself also loads the training library.
"""
from __future__ import annotations

import logging

import click

from sdd_client.cli import register


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log every HTTP request.")
def cli(verbose: bool) -> None:
    """The sdd-jobs client: submit, follow and fetch distillation jobs on a server."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.group("models")
def models_group() -> None:
    """Teacher weights uploaded to the server."""


register(cli)


def main() -> None:
    cli(prog_name="python -m sdd_client")


if __name__ == "__main__":
    main()

"""The ``sdd`` click group, assembled: the library's commands, the service's and the client's.

The ``sdd`` console script (``sdd_client.cli:sdd_main``, of the sdd-client distribution) runs
``cli`` through the ``sdd.cli`` entry point sdd-jobs declares; ``python -m sdd_cli`` runs ``main``.
Each part only registers commands; the heavy stacks (torch, the web server, Celery) are imported
inside the commands that need them, so ``sdd --help`` starts in a fraction of a second.
"""

from __future__ import annotations

from sdd_cli import health_commands, process_commands, service_commands
from sdd_client.cli import register as register_client_commands
from sdd_core.cli import cli

service_commands.register(cli)  # sdd migrate | token
process_commands.register(cli)  # sdd api | worker | up
health_commands.register(cli)  # sdd health worker
register_client_commands(cli)  # sdd login | jobs | sweeps | datasets | catalog, sdd models upload|list

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="sdd")

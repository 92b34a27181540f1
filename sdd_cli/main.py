"""The ``sdd`` click group, assembled: the library's commands, the service's and the client's.

Each part only registers commands; the heavy stacks (torch, the web server, Celery) are imported
inside the commands that need them, so ``sdd --help`` starts in a fraction of a second.
"""

from __future__ import annotations

from sdd_cli import process_commands, service_commands
from sdd_client.cli import register as register_client_commands
from sdd_core.cli import cli

service_commands.register(cli)  # sdd migrate | token
process_commands.register(cli)  # sdd api | worker | up
register_client_commands(cli)  # sdd login | jobs | sweeps | datasets | catalog, sdd models upload|list


def main() -> None:
    cli(prog_name="sdd")

"""``python -m sdd_client …``: the client commands without the rest of ``sdd``.

The same commands as ``sdd login|jobs|datasets|models upload|list|catalog`` (``sdd_client.cli``),
for a machine that has only the client's dependencies (no torch); the full ``sdd`` command
(``sdd_cli``) also has the training library's and the service's commands.
"""

from sdd_client.cli import main

if __name__ == "__main__":
    main(prog_name="python -m sdd_client")

"""The ``sdd`` command: the one place that assembles the layers into a command line.

It sits above everything it puts together, so imports point down only::

    sdd_core  <-  domain, service  <-  api, worker  <-  sdd_cli
    sdd_client (stands alone: it talks to a server over HTTP)

- ``sdd_cli.main``: the click group, from ``sdd_core.cli`` (train | evaluate | models) plus the
  commands below and the client's (login | jobs | datasets | models upload|list | catalog).
- ``sdd_cli.service_commands``: ``sdd migrate`` and ``sdd token create|list|revoke``.
- ``sdd_cli.process_commands``: ``sdd api``, ``sdd worker`` and ``sdd up`` (both as children).

``python -m sdd_cli …`` is the same as ``sdd …``.
"""

"""``python -m sdd_cli …``: the ``sdd`` command (``sdd up`` starts its children this way)."""

from sdd_cli.main import main

if __name__ == "__main__":
    main()

"""Names a package exports but imports only when one is first read (PEP 562's module ``__getattr__``).

``sdd_core.data``, ``sdd_core.models`` and ``sdd_core.trainer`` export their torch modules' names
this way, so that a process which only names datasets and architectures (the REST API) starts
without torch: ``from sdd_core import models as zoo`` costs nothing, ``zoo.create_model`` imports
the zoo. A package's torch-free names are imported as usual, by its ``__init__``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name listed under a module of ``homes`` is
    imported from ``package.<module>`` when first read, then kept in the package's namespace.

    A module listed under its own name (``{"timm_zoo": ["timm_zoo"]}``) is the submodule itself.
    """
    home_of = {name: f"{package}.{module}" for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        home = home_of.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(home)
        value = module if home == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__

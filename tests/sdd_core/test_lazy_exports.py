"""The packages that load their torch modules on first use (``sdd_core.lazy_exports``) still export
every name they list, as the very object its module defines."""

from __future__ import annotations

import importlib

import pytest

LAZY_PACKAGES = ("sdd_core.data", "sdd_core.models", "sdd_core.trainer")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_listed_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ lists {missing}, which its lazy exports do not resolve"


def test_a_lazy_name_is_its_modules_object_and_a_submodule_is_the_module() -> None:
    from sdd_core.data import dataset_shape
    from sdd_core.data.registry import dataset_shape as defined
    from sdd_core.models import timm_zoo
    from sdd_core.models.timm_zoo import is_timm_name

    assert dataset_shape is defined
    assert timm_zoo.is_timm_name is is_timm_name


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    zoo = importlib.import_module("sdd_core.models")
    with pytest.raises(AttributeError, match="'sdd_core.models' has no attribute 'lst_models'"):
        zoo.lst_models  # noqa: B018  (the attribute access is the test)

"""Dataset names, checked without touching a file or importing torch (the REST API checks every
job's dataset with these): the built-ins ``cifar10``, ``cifar100`` and ``digits``,
``imagefolder:<path>`` and ``shards:<path>``. What each name holds: ``registry``."""

from __future__ import annotations

CIFAR10_NAME = "cifar10"
CIFAR100_NAME = "cifar100"
DIGITS_NAME = "digits"
IMAGE_FOLDER_PREFIX = "imagefolder:"
SHARDS_PREFIX = "shards:"

DIGITS_FLIP = False
"""No horizontal flip by default: a mirrored digit is not a digit of its class."""


def list_datasets() -> list[str]:
    """The built-in dataset names, sorted."""
    return sorted([CIFAR10_NAME, CIFAR100_NAME, DIGITS_NAME])


def is_known_dataset(name: str) -> bool:
    """True for a built-in name, ``imagefolder:<non-empty path>`` or ``shards:<non-empty path>``;
    touches no file."""
    if name in list_datasets():
        return True
    return any(
        name.startswith(prefix) and bool(name[len(prefix) :].strip()) for prefix in (IMAGE_FOLDER_PREFIX, SHARDS_PREFIX)
    )


def is_sharded(name: str) -> bool:
    """True for a ``shards:<path>`` name."""
    return name.startswith(SHARDS_PREFIX)


def flips_by_default(name: str) -> bool:
    """Whether a dataset's training images are flipped unless a job says otherwise (not digits)."""
    return DIGITS_FLIP if name == DIGITS_NAME else True

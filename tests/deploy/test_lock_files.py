"""requirements/*.txt (pip-compile's lock files) agree with both pyproject files, without a network.

Every declared dependency is pinned within its bounds; the test lock holds the server lock's pins
(the suite tests what the images install); torch is pinned without a local label and without its
CUDA libraries, so the API image's CPU-only build and the worker's CUDA build both satisfy it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCKS = REPO_ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
CUDA_STACK = re.compile(r"^(nvidia-|cuda-|triton$)")


def pins(path: Path) -> dict[str, Version]:
    """Canonical name -> pinned version of every ``name==version`` line."""
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def requirements(pyproject: Path, extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


CLIENT = requirements(REPO_ROOT / "client" / "pyproject.toml", ("plot",))
SERVER = requirements(REPO_ROOT / "pyproject.toml")
TEST = requirements(REPO_ROOT / "pyproject.toml", ("test",))


def out_of_lock(lock: dict[str, Version], declared: list[Requirement]) -> list[str]:
    problems = []
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        if name == "sdd-client":
            continue  # no index has it: installed from ./client (its own requirements are checked)
        if name not in lock:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(lock[name], prereleases=True):
            problems.append(f"{requirement}: the lock pins {lock[name]}")
    return problems


@pytest.mark.parametrize(
    ("lock_file", "declared"),
    [("client.txt", CLIENT), ("server.txt", SERVER + CLIENT), ("test.txt", TEST + CLIENT)],
)
def test_every_declared_dependency_is_pinned_within_its_bounds(lock_file: str, declared: list[Requirement]) -> None:
    assert out_of_lock(pins(LOCKS / lock_file), declared) == []


def test_the_tests_run_the_versions_the_images_install() -> None:
    server, test = pins(LOCKS / "server.txt"), pins(LOCKS / "test.txt")
    assert {name: test.get(name) for name in server} == server


def test_torch_is_pinned_for_both_images() -> None:
    for lock_file in ("server.txt", "test.txt"):
        lock = pins(LOCKS / lock_file)
        assert lock["torch"].local is None and lock["torchvision"].local is None  # X, not X+cpu or X+cu130
        assert not [name for name in lock if CUDA_STACK.match(name)], lock_file  # torch pins its CUDA stack
        assert "sdd-client" not in lock and "pip" not in lock


def test_each_lock_says_how_to_regenerate_it() -> None:
    for lock_file in ("client.txt", "server.txt", "test.txt"):
        header = (LOCKS / lock_file).read_text().split("\n\n")[0]
        assert "pip-compile" in header and "bash requirements/compile.sh" in header, lock_file


def test_a_bound_the_lock_breaks_is_named() -> None:
    lock = {"fastapi": Version("0.110.0"), "httpx": Version("0.28.1")}
    declared = [Requirement("fastapi>=0.120.1,<1"), Requirement("httpx>=0.27,<1"), Requirement("jinja2>=3.1,<4")]
    assert out_of_lock(lock, declared) == [
        "fastapi<1,>=0.120.1: the lock pins 0.110.0",
        "jinja2<4,>=3.1: not in the lock",
    ]

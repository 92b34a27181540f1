#!/usr/bin/env bash
# Regenerate the lock files here from pyproject.toml and client/pyproject.toml with pip-tools:
#
#   client.txt   sdd-client with its plot extra
#   server.txt   sdd-jobs (the images install it: Dockerfile)
#   test.txt     sdd-jobs with its test extra (scripts/bootstrap.sh installs .venv within it)
#
#   bash requirements/compile.sh                     # keep every pin the bounds still allow
#   bash requirements/compile.sh --upgrade           # the newest releases the bounds allow
#   bash requirements/compile.sh -P fastapi          # one package to its newest
#
# Resolved against the package index alone (no local wheel folders or mirrors), so a pin names a
# public release: `torch==X` without a local label, which both PyPI's CUDA build (the worker image)
# and the CPU index's X+cpu (the API image) satisfy. torch's CUDA libraries (nvidia-*, cuda-*,
# triton) are left out of the files: torch pins them exactly itself, and the API image needs none.
# tests/deploy/test_lock_files.py checks the files against both pyproject files.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# sdd-jobs requires sdd-client, which no index has: a wheel of ./client stands in for it (built from a
# copy, so no build/ or *.egg-info lands in the checkout).
mkdir -p "$work/src"
cp -R client "$work/src/client"
ln -s "$PWD/sdd_client" "$work/src/sdd_client"
rm -rf "$work/src/client/build" "$work/src/client/"*.egg-info
.venv/bin/pip wheel --quiet --no-deps --no-build-isolation --disable-pip-version-check \
    --wheel-dir "$work/wheels" "$work/src/client"

compile() {
    env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
        CUSTOM_COMPILE_COMMAND="bash requirements/compile.sh" \
        .venv/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
        --find-links "$work/wheels" --unsafe-package sdd-client --unsafe-package pip "$@"
}
compile --extra plot --output-file requirements/client.txt "${@}" client/pyproject.toml
compile --output-file requirements/server.txt "${@}" pyproject.toml
compile --extra test --output-file requirements/test.txt "${@}" pyproject.toml

# torch's CUDA stack out: a pin line starts a block, its indented "# via" lines follow it.
.venv/bin/python - requirements/server.txt requirements/test.txt <<'PY'
import re
import sys
from pathlib import Path

CUDA = re.compile(r"(nvidia-|cuda-|triton==)", re.IGNORECASE)
NOTE = (
    "# torch's CUDA libraries (nvidia-*, cuda-*, triton) are left to torch, which pins them exactly:\n"
    "# the worker image gets them with PyPI's torch; the API image's CPU-only torch needs none.\n"
)
for name in sys.argv[1:]:
    path = Path(name)
    kept, dropping = [], False
    for line in path.read_text().splitlines(keepends=True):
        if line[:1].isalnum():
            dropping = bool(CUDA.match(line))
        elif not line.startswith(" "):
            dropping = False
        if not dropping:
            kept.append(line)
    text = "".join(kept)
    path.write_text(text if NOTE in text else text.rstrip("\n") + "\n\n" + NOTE)
PY

#!/usr/bin/env bash
# Create .venv (if missing) and install sdd-client and sdd-jobs into it, editable, with the test
# extras, at the versions requirements/test.txt locks. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# An sdd-jobs installed before it depended on sdd-client declared the `sdd` script itself: removed
# first, or its uninstall during the upgrade below would delete the `sdd` that sdd-client installs.
if .venv/bin/python -I - <<'PY' 2>/dev/null  # -I: not the checkout's sdd_jobs.egg-info
import sys
from importlib.metadata import distribution

scripts = distribution("sdd-jobs").entry_points.select(group="console_scripts")
sys.exit(0 if "sdd" in scripts.names else 1)
PY
then
    .venv/bin/pip uninstall --quiet --yes sdd-jobs
fi
# One pip call, so that the local client satisfies sdd-jobs' sdd-client requirement (no index has it).
.venv/bin/pip install --quiet --disable-pip-version-check -c requirements/test.txt -e ./client -e '.[test]'

#!/usr/bin/env bash
# Start the service on the embedded default (SQLite, file broker, local artifacts) and run a real
# distillation through its REST API: a teacher on `digits`, then an SD-KD and a KD student.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python examples/distill_digits.py "$@"

#!/usr/bin/env bash
# The linter, the formatter's check and the type checker, as configured in pyproject.toml.
# Fails on the first finding; `ruff check --fix . && ruff format .` repairs most of them.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "ruff check"; .venv/bin/ruff check .
echo "ruff format --check"; .venv/bin/ruff format --check .
echo "mypy (every package, as pyproject.toml lists them)"; .venv/bin/mypy

#!/usr/bin/env bash
# Run the whole test suite. Installs what the tests need first: the Python packages, and the
# redis-server, docker-compose, chromium, chromium-driver and prometheus (with promtool) binaries (PostgreSQL 15 must be on PATH: initdb, pg_ctl, postgres).
# The tests start their own PostgreSQL and Redis on free 127.0.0.1 ports and remove them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing: ${missing[*]} (install them with apt-get as root)" >&2
    fi
fi
command -v initdb >/dev/null 2>&1 || export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
bash scripts/bootstrap.sh
bash scripts/lint.sh
# Three test processes on two cores (much of the suite waits on servers and worker processes),
# each file (and tests/e2e as a whole) on one of them; the slowest files first (tests/conftest.py).
# SDD_TEST_PROCESSES=2 for fewer; `scripts/test.sh -n 0` runs them in one process.
exec .venv/bin/python -m pytest -n "${SDD_TEST_PROCESSES:-3}" --dist loadfile "$@"

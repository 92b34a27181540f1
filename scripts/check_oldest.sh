#!/usr/bin/env bash
# The lower bounds that matter, tested: a throwaway venv gets the oldest release pyproject.toml and
# client/pyproject.toml allow of the packages below (with their own dependencies at the versions
# requirements/test.txt locks), sees every other package in .venv (the lock's versions) behind them,
# is checked for consistency (each distribution's requirements met by the versions it imports) and
# runs the tests that exercise those packages: multipart upload parsing (python-multipart), Range
# requests, errors and uploads through the API (fastapi, starlette), settings and the generated
# client models (pydantic, pydantic-settings), the client's commands and plots (matplotlib).
#
#   bash scripts/check_oldest.sh            # after scripts/bootstrap.sh; prints what it installed
#   bash scripts/check_oldest.sh -x -v      # extra pytest arguments
#
# Needs the package index for the old releases (pip's cache keeps them for the next run).
set -euo pipefail
cd "$(dirname "$0")/.."

OLDEST=(python-multipart fastapi starlette pydantic pydantic-settings matplotlib)
LOCKSTEP=(pydantic-core)  # pinned exactly by pydantic: whichever its oldest release asks for
TESTS=(
    tests/api/test_datasets.py
    tests/api/test_dataset_uploads.py
    tests/api/test_job_artifacts.py
    tests/api/test_errors_and_health.py
    tests/service/test_settings.py
    tests/sdd_client/test_generated_models.py
    tests/sdd_client/test_cli.py
    tests/sdd_client/test_plots.py
)

venv=$(mktemp -d "${TMPDIR:-/tmp}/sdd-oldest.XXXXXX")
trap 'rm -rf "$venv"' EXIT

# `name==X` for each package's `>=X` in either pyproject file.
mapfile -t pins < <(.venv/bin/python - "${OLDEST[@]}" <<'PY'
import sys
import tomllib

from packaging.requirements import Requirement

wanted = set(sys.argv[1:])
requirements = []
for path in ("pyproject.toml", "client/pyproject.toml"):
    project = tomllib.load(open(path, "rb"))["project"]
    requirements += project["dependencies"] + sum(project.get("optional-dependencies", {}).values(), [])
lowest = {}
for requirement in map(Requirement, requirements):
    for spec in requirement.specifier:
        if requirement.name in wanted and spec.operator == ">=":
            lowest[requirement.name] = spec.version
missing = wanted - set(lowest)
if missing:
    sys.exit(f"no lower bound (>=) declared for {sorted(missing)}")
print("\n".join(f"{name}=={version}" for name, version in sorted(lowest.items())))
PY
)
echo "oldest: ${pins[*]}"

# Without pip or setuptools of its own (.venv's pip installs into it), so those too are the lock's.
.venv/bin/python -m venv --without-pip "$venv"
# Their dependencies at the lock's versions: the lock less the packages above, as constraints.
lowered=$(IFS='|'; echo "${OLDEST[*]}|${LOCKSTEP[*]}")
grep -v -i -E "^(${lowered})==" requirements/test.txt > "$venv/constraints.txt"
.venv/bin/pip --python "$venv/bin/python" install --quiet --disable-pip-version-check -c "$venv/constraints.txt" "${pins[@]}"

# Everything else from .venv, after this venv's own site-packages (its .pth files run too, so the
# checkout's editable packages import as there).
own=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
locked=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
echo "import site; site.addsitedir('$locked')" > "$own/zz_locked_site.pth"

"$venv/bin/python" - "${OLDEST[@]}" <<'PY'
"""Each distribution's requirements (extras it was not asked for aside) met by the first copy of
each distribution on sys.path, which is the one Python imports."""
import sys
from importlib.metadata import distributions, version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

first = {}
for dist in distributions():
    first.setdefault(canonicalize_name(dist.metadata["Name"]), dist)
problems = []
for name, dist in sorted(first.items()):
    for text in dist.requires or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        found = first.get(canonicalize_name(requirement.name))
        if found is None:
            continue  # an optional dependency that nothing here installs
        if not requirement.specifier.contains(found.version, prereleases=True):
            problems.append(f"{name} {dist.version} requires {requirement}, but {found.version} is installed")
for name in sys.argv[1:]:
    print(f"  {name} {version(name)}")
if problems:
    sys.exit("inconsistent:\n  " + "\n  ".join(problems))
PY

# The committed OpenAPI document is the one the lock's pydantic writes (its schema names differ in
# older releases); the other tests of the generated models run.
"$venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning "${TESTS[@]}" \
    --deselect tests/sdd_client/test_generated_models.py::test_the_committed_document_and_models_are_what_the_server_generates \
    "$@"

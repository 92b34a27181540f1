"""The API process starts without the trainer's stack: no torch, no torchvision, no timm, no
scikit-learn, scipy, matplotlib or ONNX, and no trainer module.

One fresh interpreter (this test process has imported torch long ago) imports ``api.app``,
creates the app on a migrated SQLite under a temp ``SDD_HOME``, serves ``GET /healthz`` and then
``GET /v1/catalog``, and reports ``sorted(sys.modules)`` after each step.

The catalog is the one route here that truly needs torch on first use: it lists torchvision's
architectures with their weights files (torchvision knows their addresses), counts timm's
architectures and reads CIFAR's files where torchvision's dataset classes say they lie. So after it
torch, torchvision and timm are loaded, and still none of the rest: no scikit-learn (the digits
load only to train), no matplotlib (curves load it when drawn), no ONNX, no trainer loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY_PACKAGES = ("torch", "torchvision", "timm", "sklearn", "scipy", "matplotlib", "onnxruntime", "onnx")
"""Top-level packages the API must not import at start."""
CATALOG_NEEDS = frozenset({"torch", "torchvision", "timm"})
"""What the first catalog loads (see the module's docstring)."""
TRAINER_PACKAGE = "sdd_core.trainer"
TRAINER_LIGHT_MODULES = frozenset({"sdd_core.trainer", "sdd_core.trainer.student_formats"})
"""The trainer's table of lazily loaded names and the student formats the API serves: torch-free."""

PROBE = """
import json, sys
import api.app
stages = {"import": sorted(sys.modules)}
from fastapi.testclient import TestClient
from service.db.session import get_sessionmaker
from service.migrate import upgrade
from service.settings import get_settings
from service.tokens import create_token
settings = get_settings()
settings.ensure_dirs()
upgrade(settings.database_url)
with get_sessionmaker(settings)() as session:
    token, _ = create_token(session, "alice")
    session.commit()
with TestClient(api.app.create_app(settings)) as client:
    assert client.get("/healthz").status_code == 200
    stages["healthz"] = sorted(sys.modules)
    response = client.get("/v1/catalog", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    stages["catalog"] = sorted(sys.modules)
print(json.dumps(stages))
"""

HOW_TO_FIND = (
    "find the import chain with `.venv/bin/python -X importtime -c 'import api.app' 2>imports.txt` and move "
    "the import into the function that needs it, or the constant into a torch-free module"
)


def heavy_loaded(modules: list[str], allowed: frozenset[str] = frozenset()) -> list[str]:
    """The heavy packages and trainer modules among ``modules``, less ``allowed`` packages."""
    tops = {name.partition(".")[0] for name in modules}
    trainer = [
        name
        for name in modules
        if (name == TRAINER_PACKAGE or name.startswith(TRAINER_PACKAGE + ".")) and name not in TRAINER_LIGHT_MODULES
    ]
    return sorted((tops & set(HEAVY_PACKAGES)) - allowed) + trainer


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """``sorted(sys.modules)`` of a fresh API process after each step (see ``PROBE``)."""
    home = tmp_path_factory.mktemp("lean-api") / "sdd_home"
    env = {name: value for name, value in os.environ.items() if not name.startswith("SDD_")}
    env["SDD_HOME"] = str(home)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # starts a Python process that imports torch for the catalog: about 8 s
def test_importing_the_api_loads_no_trainer_stack(stages: dict[str, list[str]]) -> None:
    loaded = heavy_loaded(stages["import"])
    assert not loaded, f"import api.app loaded {', '.join(loaded)}; {HOW_TO_FIND}"


@pytest.mark.slow
def test_creating_the_app_and_serving_healthz_loads_none_either(stages: dict[str, list[str]]) -> None:
    loaded = heavy_loaded(stages["healthz"])
    assert not loaded, f"create_app() and GET /healthz loaded {', '.join(loaded)}; {HOW_TO_FIND}"


@pytest.mark.slow
def test_the_first_catalog_loads_the_zoo_and_nothing_of_training(stages: dict[str, list[str]]) -> None:
    tops = {name.partition(".")[0] for name in stages["catalog"]}
    assert CATALOG_NEEDS <= tops, "the catalog lists the zoo: if it no longer needs these, tighten CATALOG_NEEDS"
    loaded = heavy_loaded(stages["catalog"], allowed=CATALOG_NEEDS)
    assert not loaded, f"GET /v1/catalog loaded {', '.join(loaded)}; {HOW_TO_FIND}"

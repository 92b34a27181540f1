"""Regenerate the client's models from the server's OpenAPI document.

    .venv/bin/python scripts/generate_client_models.py            # rewrites the two files below
    .venv/bin/python scripts/generate_client_models.py --out DIR  # writes them into DIR instead

1. ``create_app().openapi()`` (``api.app``) goes to ``client/openapi.json``: the contract, as the
   server serves it at ``/openapi.json``.
2. datamodel-code-generator (pinned in pyproject.toml's ``test`` extra) turns its schemas into
   pydantic v2 models, ``sdd_client/generated_models.py``, formatted by the project's ruff.

The models keep fields they do not know (``extra="allow"``: a newer server may add some); the
schema's ``JobStatus`` is the hand-written ``sdd_client.job_status.JobStatus`` the server uses too;
the few properties the client adds (``job.is_terminal``, ``report.configuration_of``, ...) come
from the base classes in ``sdd_client.model_methods``. The models keep the schemas' types,
constraints and descriptions, not their titles (pydantic's "Sd Supported" for ``sd_supported``)
and examples: without those, equal schemas are one class (the sweep's ``base`` is a ``JobCreate``).

``tests/sdd_client/test_generated_models.py`` regenerates both files into a temporary folder and
fails when either differs from the committed one: after changing a schema, run this script and
commit what it wrote.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from api.app import create_app
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
OPENAPI_PATH = Path("client/openapi.json")
MODELS_PATH = Path("sdd_client/generated_models.py")

HEADER = """\
# Generated from client/openapi.json (the server's OpenAPI document) by scripts/generate_client_models.py
# with datamodel-code-generator: do not edit. After a schema change, regenerate both files with
#     .venv/bin/python scripts/generate_client_models.py
# Hand-written names and behaviour: sdd_client.models and sdd_client.model_methods."""

# The schemas whose class the client does not generate, and the bases that add the client's behaviour.
TYPE_OVERRIDES = {"JobStatus": "sdd_client.job_status.JobStatus"}
BASE_CLASSES = {
    "JobPublic": "sdd_client.model_methods.JobMethods",
    "Progress": "sdd_client.model_methods.ProgressMethods",
    "SweepSummaryPublic": "sdd_client.model_methods.SweepMethods",
    "SweepPublic": "sdd_client.model_methods.SweepMethods",
    "SweepReport": "sdd_client.model_methods.SweepReportMethods",
    "JobCreate": "sdd_client.model_methods.SubmissionMethods",
    "JobRequest": "sdd_client.model_methods.SubmissionMethods",  # JobCreate without its examples
}
GENERATOR_OPTIONS = [
    "--input-file-type=openapi",
    "--output-model-type=pydantic_v2.BaseModel",
    "--target-python-version=3.11",
    "--extra-fields=allow",
    "--use-schema-description",  # class docstrings from the schemas' descriptions
    "--enum-field-as-literal=all",  # method, pretrained, ...: Literal["ce", "kd", ...]
    "--use-annotated",
    "--field-constraints",
    "--collapse-root-models",
    "--use-type-alias",  # a constrained number (epochs: 1..100000) is an int, not a model around one
    "--reuse-model",  # equal schemas: one class ...
    "--collapse-reuse-models",  # ... named once, not an empty subclass per name
    "--disable-timestamp",
    "--formatters=builtin",
    f"--type-overrides={json.dumps(TYPE_OVERRIDES)}",
    f"--base-class-map={json.dumps(BASE_CLASSES)}",
    f"--custom-file-header={HEADER}",
]


def openapi_document() -> dict[str, Any]:
    """The server's OpenAPI document, from an app on throw-away settings (it does not depend on them)."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(env="development", home=Path(home), database_url="", broker_url="", artifact_url=None)
        return create_app(settings).openapi()


def for_models(schema: Any) -> Any:
    """The document without the keywords written for people only: ``title`` (a string) and ``examples``
    (a list). A property named "title" or "examples" is a schema (a mapping) and stays."""
    if isinstance(schema, dict):
        return {key: for_models(value) for key, value in schema.items() if not _for_people(key, value)}
    if isinstance(schema, list):
        return [for_models(item) for item in schema]
    return schema


def _for_people(key: str, value: Any) -> bool:
    return (key == "title" and isinstance(value, str)) or (key == "examples" and isinstance(value, list))


def generate_models(document: dict[str, Any]) -> str:
    """The models module for ``document``: datamodel-code-generator's output, formatted by ruff."""
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "openapi.json", Path(folder) / "models.py"
        source.write_text(json.dumps(for_models(document), indent=2))
        command = [sys.executable, "-m", "datamodel_code_generator", f"--input={source}", f"--output={output}"]
        subprocess.run([*command, *GENERATOR_OPTIONS], check=True, capture_output=True, text=True)
        code = output.read_text()
    return _ruff(["check", "--fix", "--quiet"], _ruff(["format", "--quiet"], code))


def _ruff(arguments: list[str], code: str) -> str:
    """``code`` through ruff with the project's settings, as if it were ``MODELS_PATH``."""
    command = [sys.executable, "-m", "ruff", *arguments, "--stdin-filename", str(MODELS_PATH), "-"]
    return subprocess.run(command, input=code, check=True, capture_output=True, text=True, cwd=REPO_ROOT).stdout


def write(out: Path | None = None) -> tuple[Path, Path]:
    """Write the document and the models under ``out`` (default: their places in the repository)."""
    document = openapi_document()
    openapi_path = out / OPENAPI_PATH.name if out else REPO_ROOT / OPENAPI_PATH
    models_path = out / MODELS_PATH.name if out else REPO_ROOT / MODELS_PATH
    openapi_path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    models_path.write_text(generate_models(document))
    return openapi_path, models_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="Write openapi.json and generated_models.py into this folder.")
    for path in write(parser.parse_args().out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

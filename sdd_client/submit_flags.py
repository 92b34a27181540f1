"""``sdd jobs submit``'s input: a YAML/JSON spec file or a job to clone, and flags, merged into a
request body.

Flags win over the file, or over the cloned job (``--from``, which does not combine with
``--file``). Every hyper-parameter of the public schema is a flag of its own (``--epochs``,
``--batch-size``, ``--lr-decay-epochs 150,180,210``, ...), as in ``sdd train``; the server
validates the result and names the field at fault.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from sdd_client.errors import APIError
from sdd_client.models import Hyperparameters, Job, JobSubmission, TeacherRef
from sdd_client.schema_flags import INT_LIST, click_type, schema_help

HP_FIELDS = tuple(Hyperparameters.model_fields)
# What a copy takes from its source's request (metadata and tags come from the job itself; a
# newer server's unknown fields are left out, since the submission schema refuses them).
SPEC_FIELDS = tuple(name for name in JobSubmission.model_fields if name not in ("metadata", "name", "tags"))
# Filled in from the dataset when a submission leaves them out: a copy on another dataset leaves them to it.
DATASET_DEFAULTS = ("image_size",)
DATASET_HP_DEFAULTS = ("flip",)

FROM_HELP = (
    "Clone this job: submit a new one with the fields it was submitted with, its metadata and tags, "
    "the flags given applied on top (flags win; not with --file). What the source left to the server's "
    "defaults follows the new job's method, student, teacher and epochs (e.g. --epochs 20 rescales the "
    "default decay milestones), the values it stated are kept; --dataset also resets the image size "
    "and flip, --method ce drops the teacher, a method other than sd-* the scales and beta."
)


# The server's field at fault -> the flags that set it, so a refusal names what to type.
TEACHER_FLAGS = {
    "teacher": "--teacher-job JOB_ID, --teacher-model MODEL or --teacher-pretrained ARCH",
    "teacher.job": "--teacher-job",
    "teacher.model": "--teacher-model",
    "teacher.arch": "--teacher-pretrained",
    "init": "--init",
    "init.model": "--init",
    "init.job": "--init",
}
INIT_FORMS = "Here: scratch, pretrained, a model of yours (its id or its name) or a succeeded job's id (job_…)."


def hyperparameter_options(command: Any, exclude: frozenset[str] = frozenset()) -> Any:
    """Add one ``--<name>`` option per hyper-parameter (but those in ``exclude``), typed and described by the schema."""
    for name in reversed([name for name in HP_FIELDS if name not in exclude]):
        kind, metavar = click_type(Hyperparameters, name)
        option = click.option(
            f"--{name.replace('_', '-')}",
            name,
            type=kind,
            metavar=metavar,
            default=None,
            help=schema_help(Hyperparameters, name),
        )
        command = option(command)
    return command


def teacher_options() -> list[Any]:
    """``--teacher-job``, ``--teacher-model`` and ``--teacher-pretrained``: one of them names the teacher."""
    return [
        click.option(
            "--teacher-job", help=schema_help(TeacherRef, "job", "Its id, a unique prefix of it or its name.")
        ),
        click.option("--teacher-model", help=schema_help(TeacherRef, "model", "Its id (mdl_…) or its name.")),
        click.option(
            "--teacher-pretrained",
            metavar="ARCH",
            help=schema_help(TeacherRef, "arch", "See `sdd catalog`."),
        ),
    ]


def teacher_from_flags(flags: dict[str, Any]) -> dict[str, Any] | None:
    """The ``teacher`` reference the teacher flags give; None when none was given."""
    given = {key: flags[f"teacher_{key}"] for key in ("job", "model", "pretrained") if flags.get(f"teacher_{key}")}
    if len(given) > 1:
        raise click.UsageError("give one of --teacher-job, --teacher-model or --teacher-pretrained")
    if "pretrained" in given:
        return {"arch": given["pretrained"], "pretrained": True}
    return given or None


def init_from_flag(value: str | None) -> str | dict[str, str] | None:
    """``--init``: scratch, pretrained, a job id ({"job": id}) or a model id or name ({"model": ...})."""
    if value is None or value in ("scratch", "pretrained"):
        return value
    return {"job": value} if value.startswith("job_") else {"model": value}


def spec_options(command: Any) -> Any:
    """The job fields that are not hyper-parameters, as options."""
    options = [
        click.option(
            "--file",
            "spec_file",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="A YAML or JSON job spec (the POST /v1/jobs body); flags override it. Not with --from.",
        ),
        click.option("--from", "from_job", metavar="JOB", help=FROM_HELP),
        click.option(
            "--dataset", help=schema_help(JobSubmission, "dataset", "A dataset of yours may be named by its name.")
        ),
        click.option("--student", help=schema_help(JobSubmission, "student", "See `sdd catalog`.")),
        click.option(
            "--method", metavar=click_type(JobSubmission, "method")[1], help=schema_help(JobSubmission, "method")
        ),
        *teacher_options(),
        click.option(
            "--init", metavar="scratch|pretrained|MODEL|JOB_ID", help=schema_help(JobSubmission, "init", INIT_FORMS)
        ),
        click.option("--devices", type=click.INT, help=schema_help(JobSubmission, "devices")),
        click.option("--sync-batchnorm", is_flag=True, default=None, help=schema_help(JobSubmission, "sync_batchnorm")),
        click.option("--scales", type=INT_LIST, help=schema_help(JobSubmission, "scales")),
        click.option("--beta", type=float, help=schema_help(JobSubmission, "beta")),
        click.option("--seed", type=int, help=schema_help(JobSubmission, "seed")),
        click.option("--image-size", type=int, help=schema_help(JobSubmission, "image_size")),
        click.option(
            "--protocol", type=click.Choice(["held_out", "literature"]), help=schema_help(JobSubmission, "protocol")
        ),
        click.option(
            "--track",
            "tracking",
            multiple=True,
            type=click.Choice(["mlflow", "wandb"]),
            help=schema_help(JobSubmission, "tracking", "Repeatable: --track mlflow --track wandb."),
        ),
        click.option(
            "--metadata",
            "metadata",
            multiple=True,
            metavar="KEY=VALUE",
            help=schema_help(JobSubmission, "metadata", "VALUE is JSON when it parses, else text. Repeatable."),
        ),
        click.option("--name", help=schema_help(JobSubmission, "name")),
        click.option(
            "--tag",
            "tags",
            multiple=True,
            help=schema_help(
                JobSubmission, "tags", "Repeatable (sdd jobs list --tag finds them); a clone keeps the source's tags."
            ),
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_spec_file(path: Path | None) -> dict[str, Any]:
    """The mapping in a YAML or JSON file (``yaml.safe_load``: no tags that import Python)."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--file") from exc
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold a mapping of job fields", param_hint="--file")
    return data


def parse_metadata(pairs: tuple[str, ...]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--metadata")
        try:
            metadata[key] = json.loads(text)
        except ValueError:
            metadata[key] = text
    return metadata


def build_body(
    spec_file: Path | None,
    flags: dict[str, Any],
    metadata: tuple[str, ...],
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The POST /v1/jobs body: the file's fields (or ``base``'s), overridden by the flags that were given."""
    body = load_spec_file(spec_file) if base is None else dict(base)
    for key in ("dataset", "student", "method", "scales", "beta", "seed", "image_size", "devices", "sync_batchnorm",
                "protocol"):  # fmt: skip
        if flags.get(key) is not None:
            body[key] = flags[key]
    teacher = teacher_from_flags(flags)
    if teacher is not None:
        body["teacher"] = teacher
    init = init_from_flag(flags.get("init"))
    if init is not None:
        body["init"] = init
    hyper = dict(body.get("hyperparameters") or {})
    hyper.update({name: flags[name] for name in HP_FIELDS if flags.get(name) is not None})
    if hyper:
        body["hyperparameters"] = hyper
    if metadata:
        body["metadata"] = {**(body.get("metadata") or {}), **parse_metadata(metadata)}
    if flags.get("name") is not None:
        body["name"] = flags["name"]
    if flags.get("tags"):
        body["tags"] = sorted({*(body.get("tags") or []), *flags["tags"]})
    if flags.get("tracking"):
        body["tracking"] = sorted({*(body.get("tracking") or []), *flags["tracking"]})
    missing = [key for key in ("dataset", "student", "method") if not body.get(key)]
    if missing:
        raise click.UsageError(f"missing {', '.join('--' + key for key in missing)} (or put them in --file)")
    return body


def clone_body(source: Job, flags: dict[str, Any], metadata: tuple[str, ...]) -> dict[str, Any]:
    """The POST /v1/jobs body of a copy of ``source`` with the flags given applied on top (see ``FROM_HELP``).

    It starts from the source's ``request``: its fields as they were submitted, without the defaults
    the server filled in, so those follow the copy's own method, student, teacher and epochs. Without
    flags the copy's spec is the source's.
    """
    base: dict[str, Any] = {key: value for key, value in source.request.items() if key in SPEC_FIELDS}
    if source.metadata:
        base["metadata"] = dict(source.metadata)
    if source.tags:  # the copy is found with its source; its name is its own (--name)
        base["tags"] = list(source.tags)
    if flags.get("method") == "ce" and teacher_from_flags(flags) is None:
        base.pop("teacher", None)  # ce takes no teacher
    if not str(flags.get("method") or base.get("method")).startswith("sd-"):
        base.pop("scales", None)  # they shape the scale-decoupled methods only (the flags may still give them)
        base.pop("beta", None)
    if flags.get("dataset") is not None and flags["dataset"] != base.get("dataset"):
        for key in DATASET_DEFAULTS:
            base.pop(key, None)
        base["hyperparameters"] = {
            key: value for key, value in (base.get("hyperparameters") or {}).items() if key not in DATASET_HP_DEFAULTS
        }
    return build_body(None, flags, metadata, base=base)


def in_flag_terms(error: APIError) -> APIError:
    """A refusal of the spec's ``teacher`` reworded for the command line: it names the flags to use."""
    flags = TEACHER_FLAGS.get(error.param or "")
    if not error.is_client_error or flags is None:
        return error
    message = error.message.replace("leave teacher empty", "drop --teacher-job/--teacher-model/--teacher-pretrained")
    message = message.replace("; name one", f": give {flags}")
    named = "--" in message  # the message itself now names the flags; else they go where the field was
    return APIError(error.status, error.code, message, None if named else flags)

"""The ``sdd`` command line: ``sdd train``, ``sdd evaluate``, ``sdd models``, ``sdd samples``.

The job service adds its own commands (``sdd api``, ``sdd worker``, ...) to the same click group,
so ``sdd`` stays the one entry point. Every hyper-parameter of ``sdd_core.spec.Hyperparameters``
is also a flag of ``sdd train`` (``--batch-size``, ``--lr-decay-epochs 150,180,210``, ...); flags
override the values of ``--config``.

The training stack (torch, the zoo, the datasets) is imported inside the commands that use it,
so ``sdd --help`` and the service and client commands sharing this group start in a fraction of
a second instead of several.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
import yaml
from pydantic import ValidationError

from sdd_core.errors import SDDError
from sdd_core.methods import METHODS, Hyperparameters

if TYPE_CHECKING:
    from sdd_core.spec import JobSpec

HP_FIELDS = list(Hyperparameters.model_fields)


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace("[", "").replace("]", "").split(",") if part.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from exc


def _hyperparameter_options(command: Any) -> Any:
    """Add one ``--<name>`` flag per hyper-parameter (strings; pydantic validates them)."""
    for name in reversed(HP_FIELDS):
        field = Hyperparameters.model_fields[name]
        command = click.option(f"--{name.replace('_', '-')}", name, default=None, help=field.description)(command)
    return command


def _load_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text())  # safe_load: no tags that import Python
    except (OSError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--file") from exc
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold a mapping of job fields", param_hint="--file")
    return data


def build_spec(config: dict[str, Any], flags: dict[str, Any]) -> JobSpec:
    """Merge a config mapping with command-line flags (flags win) into a validated ``JobSpec``."""
    from sdd_core.spec import JobSpec  # noqa: PLC0415  (deferred: loads torch, see module doc)

    data = dict(config)
    hyper = dict(data.pop("hyperparameters", None) or {})
    for key in ("dataset", "student", "method", "beta", "seed", "image_size"):
        if flags.get(key) is not None:
            data[key] = flags[key]
    if flags.get("scales") is not None:
        data["scales"] = _int_list(flags["scales"])
    if flags.get("teacher_pretrained"):
        if flags.get("teacher_arch") or flags.get("teacher_checkpoint"):
            raise click.UsageError("give --teacher-pretrained ARCH, or --teacher-arch with --teacher-checkpoint")
        data["teacher"] = {"arch": flags["teacher_pretrained"], "pretrained": True}
    if flags.get("teacher_arch") or flags.get("teacher_checkpoint"):
        data["teacher"] = {
            **(data.get("teacher") or {}),
            **{
                k: v
                for k, v in (("arch", flags.get("teacher_arch")), ("checkpoint", flags.get("teacher_checkpoint")))
                if v
            },
        }
    for name in HP_FIELDS:
        value = flags.get(name)
        if value is not None:
            hyper[name] = _int_list(value) if name == "lr_decay_epochs" else value
    data["hyperparameters"] = hyper
    return JobSpec.model_validate(data)


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "spec"
        lines.append(f"  {where}: {err['msg']}")
    return "invalid job spec:\n" + "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sdd-jobs")
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def cli(verbose: bool) -> None:
    """Scale Decoupled Distillation: train, evaluate and serve distilled students."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@cli.command()
@click.option(
    "--file",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML or JSON job spec (flags win), as `sdd jobs submit --file`.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for checkpoint.pt, metrics.jsonl, student.safetensors and card.json.",
)
@click.option("--dataset", help="digits, cifar10, cifar100 or imagefolder:<path>.")
@click.option("--student", help="Student architecture (see `sdd models`).")
@click.option("--method", type=click.Choice(METHODS), help="Training method.")
@click.option(
    "--teacher-pretrained",
    metavar="ARCH",
    help="A pretrained architecture as the teacher (weights from the local cache).",
)
@click.option("--teacher-arch", help="The architecture of --teacher-checkpoint.")
@click.option("--teacher-checkpoint", help="Teacher weights from a file (safetensors, or .pt/.pth weights only).")
@click.option("--scales", help="SDD scales, e.g. 1,2,4.")
@click.option("--beta", type=float, help="Weight of complementary regions.")
@click.option("--seed", type=int)
@click.option("--image-size", type=int)
@click.option("--data-root", type=click.Path(path_type=Path), default=Path("data"), show_default=True)
@click.option("--download/--no-download", default=False, help="Allow downloading CIFAR into --data-root.")
@click.option("--workers", "workers", type=int, default=None, hidden=True, help="Old name of --loader-workers.")
@click.option("--resume", type=click.Path(path_type=Path, dir_okay=False), help="Continue from a checkpoint.pt.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@_hyperparameter_options
def train(
    config_path: Path | None,
    out_dir: Path,
    data_root: Path,
    download: bool,
    workers: int | None,
    resume: Path | None,
    no_progress: bool,
    **flags: Any,
) -> None:
    """Train a student (with or without a teacher) and export it with its model card."""
    from sdd_core.trainer import TrainCallbacks, TrainOptions, check_compatibility  # noqa: PLC0415  (deferred)
    from sdd_core.trainer import train as run_training  # noqa: PLC0415
    from sdd_core.trainer.progress import ProgressBar  # noqa: PLC0415

    if workers is not None and flags.get("loader_workers") is None:
        flags["loader_workers"] = workers
    try:
        spec = build_spec(_load_config(config_path), flags)
    except ValidationError as exc:
        raise click.UsageError(_explain(exc)) from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "spec.json").write_text(spec.model_dump_json(indent=2))
    progress = ProgressBar(enabled=not no_progress)
    interrupted = threading.Event()
    callbacks = TrainCallbacks(
        on_batch_end=progress.on_batch_end, on_epoch_end=progress.on_epoch_end, should_stop=interrupted.is_set
    )
    options = TrainOptions(data_root=data_root, allow_download=download)
    try:
        check_compatibility(spec, options)
        with _first_interrupt_sets(interrupted):
            result = run_training(spec, out_dir, options=options, callbacks=callbacks, resume_from=resume)
    except SDDError as exc:
        progress.close()
        click.echo(f"error [{exc.code}]: {exc}", err=True)
        sys.exit(1)
    progress.close()
    if result.status == "stopped" and result.stopped_at is not None:
        stop = result.stopped_at
        click.echo(
            f"stopped after batch {stop.batch}/{stop.batches} of epoch {stop.epoch}; checkpoint: "
            f"{result.checkpoint_path}\ncontinue with the same command and --resume {result.checkpoint_path}",
            err=True,
        )
        sys.exit(130)
    final = result.final or {}
    click.echo(f"student: {result.student_path}")
    click.echo(f"card: {result.card_path}")
    top1, top5 = final.get("val_top1", float("nan")), final.get("val_top5", float("nan"))
    click.echo(f"val top-1 {top1:.2f}%  top-5 {top5:.2f}%  best top-1 {result.best_val_top1:.2f}%")


@contextlib.contextmanager
def _first_interrupt_sets(flag: threading.Event) -> Iterator[None]:
    """While the block runs, the first Ctrl-C sets ``flag`` (training stops at the next batch and
    checkpoints); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@cli.command()
@click.option(
    "--weights",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="student.safetensors (or any weights file of the architecture).",
)
@click.option(
    "--card",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Model card; gives the architecture and dataset when given.",
)
@click.option("--arch", help="Architecture (when no card).")
@click.option("--dataset", help="Dataset whose validation split to use (default: the card's).")
@click.option("--data-root", type=click.Path(path_type=Path), default=Path("data"), show_default=True)
@click.option("--image-size", type=int)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--device", default="auto", show_default=True)
def evaluate(
    weights: Path,
    card: Path | None,
    arch: str | None,
    dataset: str | None,
    data_root: Path,
    image_size: int | None,
    batch_size: int,
    device: str,
) -> None:
    """Top-1 / top-5 accuracy of a trained model on a dataset's validation split."""
    from sdd_core.trainer.standalone_eval import evaluate_weights  # noqa: PLC0415  (deferred, see module doc)

    card_data = json.loads(card.read_text()) if card else {}
    arch = arch or card_data.get("arch")
    dataset = dataset or (card_data.get("dataset") or {}).get("name")
    image_size = image_size or (card_data.get("normalisation") or {}).get("image_size")
    if not arch or not dataset:
        raise click.UsageError("give --card, or both --arch and --dataset")
    try:
        metrics = evaluate_weights(
            arch, weights, dataset, data_root=data_root, image_size=image_size, batch_size=batch_size, device=device
        )
    except SDDError as exc:
        click.echo(f"error [{exc.code}]: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(metrics))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List the model zoo and whether each architecture supports SD methods.

    The job service adds subcommands to this group (uploaded teacher weights on a server).
    """
    if ctx.invoked_subcommand is not None:
        return
    from sdd_core.models import list_models, sd_support  # noqa: PLC0415  (deferred, see module doc)

    rows = [
        {"name": name, "sd_supported": sd_support(name) is None, "reason": sd_support(name)} for name in list_models()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name']:<32} {'SD ok' if row['sd_supported'] else 'no SD: ' + str(row['reason'])}")


@cli.group()
def samples() -> None:
    """Write sample data to try the service with (e.g. `sdd datasets upload`)."""


@samples.command("digits")
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("digits-images.zip"),
    show_default=True,
    help="The zip to write.",
)
@click.option("--image-size", type=click.IntRange(8, 256), default=32, show_default=True, help="Side of each image.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def samples_digits(out: Path, image_size: int, overwrite: bool) -> None:
    """scikit-learn's digits as an image-folder zip (train/ and val/, a folder of PNGs per digit)."""
    if out.suffix.lower() != ".zip":
        raise click.BadParameter(f"{out.name}: the archive is a zip; name it *.zip", param_hint="--out")
    if out.exists() and not overwrite:
        raise click.ClickException(f"{out} exists; pass --overwrite to replace it")
    from sdd_core.data.digits_archive import write_digits_archive  # noqa: PLC0415  (deferred, see module doc)

    train, val = write_digits_archive(out, image_size)
    click.echo(f"wrote {out}: {train} training and {val} validation images of 10 digits, {image_size} px", err=True)
    click.echo(str(out))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

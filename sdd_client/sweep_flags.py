"""``sdd sweeps submit``'s input: a YAML/JSON sweep file and flags, merged into a ``POST /v1/sweeps`` body.

The file holds ``{"base": <job>, "grid": {...}, "name"?, "metadata"?}``, or ``{"base": <job>,
"search": {...}}`` (trials drawn and pruned: the flags then only set the base job), or just a job
(then it is the base). A flag that lists several values becomes a grid field; one value sets the base::

    --methods kd,sd-kd   --beta 1,2,4   --scales 1/1,2/1,2,4   --seeds 0,1,2   --temperature 2,4
    --student resnet8,wrn_16_2

(``--scales``: a slash separates the scale lists, a comma the scales of one list.) Flags win over
the file; the server checks everything else and names the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sdd_client.generated_models import SweepCreate, SweepGrid
from sdd_client.models import JobSubmission
from sdd_client.schema_flags import schema_help
from sdd_client.submit_flags import HP_FIELDS, load_spec_file, parse_metadata, teacher_from_flags, teacher_options

# Grid fields and where a single value goes in the base job.
LIST_FLAGS = ("method", "student", "scales", "beta", "temperature", "seed")
ONE_OR_MORE = "Several values (comma-separated) vary it over the grid; one sets the base job's."


def _split(value: str, convert: Callable[[str], Any], what: str, separator: str = ",") -> list[Any]:
    try:
        return [convert(part.strip()) for part in value.strip("[] ").split(separator) if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected {what}, got {value!r}") from None


class ListOf(click.ParamType):
    """A comma-separated list: ``kd,sd-kd``, ``1,2,4``."""

    def __init__(self, convert: Callable[[str], Any], name: str) -> None:
        self.convert_one = convert
        self.name = name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[Any]:
        if isinstance(value, list):
            return value
        values = _split(str(value), self.convert_one, f"comma-separated {self.name}")
        if not values:
            self.fail("give at least one value", param, ctx)
        return values


class ScaleLists(click.ParamType):
    """``1/1,2/1,2,4`` -> ``[[1], [1, 2], [1, 2, 4]]``."""

    name = "S,S/S,S,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[list[int]]:
        if isinstance(value, list):
            return value
        lists = [_split(part, int, "integer scales") for part in str(value).split("/") if part.strip()]
        if not lists or not all(lists):
            self.fail(f"expected scale lists like 1,2/1,2,4, got {value!r}", param, ctx)
        return lists


def sweep_options(command: Any) -> Any:
    """The sweep's fields, as options; the hyper-parameters other than temperature are added separately."""
    options = [
        click.option(
            "--file",
            "spec_file",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="A YAML or JSON sweep ({base, grid, name, metadata}) or a job spec (the base); flags override it.",
        ),
        click.option("--name", help=schema_help(SweepCreate, "name")),
        click.option("--dataset", help=schema_help(JobSubmission, "dataset", "See `sdd catalog`.")),
        click.option(
            "--student", type=ListOf(str, "architectures"), help=schema_help(SweepGrid, "student", ONE_OR_MORE)
        ),
        click.option(
            "--method",
            "--methods",
            "method",
            type=ListOf(str, "methods"),
            help=schema_help(SweepGrid, "method", ONE_OR_MORE),
        ),
        *teacher_options(),
        click.option(
            "--scales",
            type=ScaleLists(),
            help=schema_help(SweepGrid, "scales", "Here a slash separates the lists: 1/1,2/1,2,4."),
        ),
        click.option("--beta", type=ListOf(float, "numbers"), help=schema_help(SweepGrid, "beta", ONE_OR_MORE)),
        click.option(
            "--seed", "--seeds", "seed", type=ListOf(int, "integers"), help=schema_help(SweepGrid, "seed", ONE_OR_MORE)
        ),
        click.option(
            "--temperature", type=ListOf(float, "numbers"), help=schema_help(SweepGrid, "temperature", ONE_OR_MORE)
        ),
        click.option("--image-size", type=int, help=schema_help(JobSubmission, "image_size")),
        click.option(
            "--protocol", type=click.Choice(["held_out", "literature"]), help=schema_help(JobSubmission, "protocol")
        ),
        click.option(
            "--metadata",
            "metadata",
            multiple=True,
            metavar="KEY=VALUE",
            help=schema_help(SweepCreate, "metadata", "VALUE is JSON when it parses, else text. Repeatable."),
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def build_sweep_body(spec_file: Path | None, flags: dict[str, Any], metadata: tuple[str, ...]) -> dict[str, Any]:
    """The POST /v1/sweeps body: the file's sweep (or job), overridden by the flags that were given."""
    loaded = load_spec_file(spec_file)
    if "base" in loaded or "grid" in loaded:
        body = {key: value for key, value in loaded.items() if key not in ("base", "grid")}
        base, grid = dict(loaded.get("base") or {}), dict(loaded.get("grid") or {})
    else:
        body, base, grid = {}, loaded, {}
    hyper = dict(base.get("hyperparameters") or {})
    for field in LIST_FLAGS:
        values = flags.get(field)
        if values is None:
            continue
        grid.pop(field, None)
        if len(values) > 1:
            grid[field] = values
        elif field == "temperature":
            hyper["temperature"] = values[0]
        else:
            base[field] = values[0]
    for key in ("dataset", "image_size", "protocol"):
        if flags.get(key) is not None:
            base[key] = flags[key]
    teacher = teacher_from_flags(flags)
    if teacher is not None:
        base["teacher"] = teacher
    hyper.update({name: flags[name] for name in HP_FIELDS if name != "temperature" and flags.get(name) is not None})
    if hyper:
        base["hyperparameters"] = hyper
    if flags.get("name"):
        body["name"] = flags["name"]
    if metadata:
        body["metadata"] = {**(body.get("metadata") or {}), **parse_metadata(metadata)}
    search = body.get("search")
    if isinstance(search, dict):  # a search varies its space: a flag may only set the base
        if grid:
            raise click.UsageError(
                f"the file asks for a search; --{', --'.join(sorted(grid))} with several values would make a grid: "
                "give one value (it sets the base job) or put the values in the search's space"
            )
        space = search.get("space")
        if not base.get("student") and isinstance(space, dict) and isinstance(space.get("student"), list):
            base["student"] = space["student"][0]
        return {**body, "base": base}
    missing = [key for key in ("dataset", "student", "method") if not base.get(key) and not grid.get(key)]
    if missing:
        raise click.UsageError(f"missing {', '.join('--' + key for key in missing)} (or put them in --file)")
    if not grid:
        raise click.UsageError(
            "nothing to sweep: give several values to --methods, --student, --scales, --beta, --temperature or "
            "--seeds (or a grid in --file)"
        )
    return {**body, "base": base, "grid": grid}

"""A sweep as a tenant asks for it: ``SweepRequest`` (a job and a grid, or a search), and its
expansion into member jobs.

    {"base": <a POST /v1/jobs body>, "grid": {"method": ["kd", "sd-kd"], "beta": [1, 2], "seed": [0, 1, 2]}}
    {"base": <a POST /v1/jobs body>, "search": {"trials": 9, "space": {"beta": {"low": 0.5, "high": 8}}}}

A search (``domain.sweeps.sweep_search``) draws its members from a space instead of enumerating
them; each trial is a member whose values are the ones drawn, and refusals name
``("search", "space", <field>)`` where a grid's name ``("grid", <field>)``.

The grid may vary ``method``, ``student``, ``scales``, ``beta``, ``temperature`` (a
hyper-parameter) and ``seed``; every other field comes from ``base``. ``method`` and ``student``,
which every job names, may be left out of ``base`` when the grid varies them (``base`` then takes
the grid's first value). Each grid field lists distinct values, at least one.

Expansion (``expand``): the cross product of the grid's lists, fields in ``GRID_FIELDS`` order
(the seed varies fastest, so the members of one configuration are neighbours). ``beta`` and
``scales`` shape the scale-decoupled methods only: a member whose method is not one of them takes
none (not the base's either), and the product's copies of it (one per β and scale list, which would train
the same job) are made once. So ``{"method": ["kd", "sd-kd"], "beta": [1, 2, 4], "seed": [0, 1,
2]}`` makes 3 KD members and 9 SD-KD members, 12 in all; that count is what ``SDD_MAX_SWEEP_SIZE``
limits (``member_count`` computes it without building anything).

Every refusal names the field at fault as data: ``("grid", "beta")`` for a grid value,
``("base", "hyperparameters", "epochs")`` for a base field, ``("grid",)`` for the grid as a whole.
Whether each member can train (references, limits, models) is ``domain.sweeps.sweep_submission``' business.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import InvalidRequest, LimitExceeded, Location
from domain.jobs.job_request import METADATA_MAX_BYTES, JobRequest, checked_name
from domain.sweeps.sweep_search import SweepSearch, sample_trials
from sdd_core.errors import unknown_name
from sdd_core.methods import METHODS
from sdd_core.spec import SD_METHODS, Method

# The fields a grid may vary, in expansion order (the last varies fastest).
GRID_FIELDS: tuple[str, ...] = ("method", "student", "scales", "beta", "temperature", "seed")
# Grid fields that only the scale-decoupled methods use.
SD_ONLY_FIELDS = frozenset({"scales", "beta"})
# Where a grid field lives in a job request (temperature is a hyper-parameter).
FIELD_PATHS: dict[str, tuple[str, ...]] = {field: (field,) for field in GRID_FIELDS} | {
    "temperature": ("hyperparameters", "temperature")
}
# Fields every job names that ``base`` may leave to the grid.
REQUIRED_BASE_FIELDS = ("method", "student")
NAME_MAX_CHARS = 200


class SweepGrid(BaseModel):
    """The values to sweep: each field a list of distinct values; fields left out come from ``base``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"method": ["kd", "sd-kd"]}]})

    method: list[Method] | None = Field(None, description="Training methods, e.g. ['kd', 'sd-kd', 'sd-dkd'].")
    student: list[str] | None = Field(None, description="Student architectures.")
    scales: list[list[int]] | None = Field(
        None, description="SDD scale lists, e.g. [[1, 2], [1, 2, 4]] (SD methods only)."
    )
    beta: list[Annotated[float, Field(ge=0)]] | None = Field(
        None, description="Weights of complementary regions (SD methods only; 0 keeps the consistent regions only)."
    )
    temperature: list[Annotated[float, Field(gt=0)]] | None = Field(
        None, description="Distillation temperatures T (the hyper-parameter)."
    )
    seed: list[Annotated[int, Field(ge=0)]] | None = Field(None, description="Seeds, e.g. [0, 1, 2].")

    @field_validator("*")
    @classmethod
    def _distinct_values(cls, values: list[Any] | None) -> list[Any] | None:
        if values is None:
            return values
        if not values:
            raise ValueError("must list at least one value (or leave the field out)")
        seen: set[str] = set()
        for value in values:
            canonical = json.dumps(value)
            if canonical in seen:
                raise ValueError(f"lists {value!r} twice; every value must be different")
            seen.add(canonical)
        return values

    @field_validator("method", mode="before")
    @classmethod
    def _known_methods(cls, values: object) -> object:
        """An unknown method gets the job spec's 'did you mean ...?', not the bare list of literals."""
        for index, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, str) and value not in METHODS:
                raise ValueError(f"item {index}: {unknown_name('method', value, METHODS)}")
        return values

    @model_validator(mode="after")
    def _varies_something(self) -> SweepGrid:
        if not self.fields():
            raise ValueError(f"name at least one field to vary: {', '.join(GRID_FIELDS)}")
        return self

    def fields(self) -> dict[str, list[Any]]:
        """The fields the grid varies, in ``GRID_FIELDS`` order, with their values."""
        return {field: values for field in GRID_FIELDS if (values := getattr(self, field)) is not None}


class SweepRequest(BaseModel):
    """A sweep to run: ``base`` (a job) with the fields in ``grid`` varied over their cross product."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=NAME_MAX_CHARS, description="A name to recognise the sweep by.")
    base: JobRequest = Field(description="The job every member starts from (the POST /v1/jobs body).")
    grid: SweepGrid | None = Field(
        None, description="The fields to vary and their values; members are the cross product. Or give `search`."
    )
    search: SweepSearch | None = Field(
        None, description="Trials drawn from a space and pruned at rungs on validation top-1, instead of a grid."
    )
    metadata: dict[str, Any] | None = Field(
        None, description="Free-form JSON object stored with the sweep (at most 16 KiB).", examples=[{"study": "beta"}]
    )

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str | None) -> str | None:
        return checked_name(value, NAME_MAX_CHARS)  # the rule of a job's name

    @model_validator(mode="before")
    @classmethod
    def _base_takes_the_grids_first_values(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("base"), dict):
            return data
        search = data.get("search")
        varied = data.get("grid") if isinstance(data.get("grid"), dict) else None
        if varied is None and isinstance(search, dict) and isinstance(search.get("space"), dict):
            varied = search["space"]
        if varied is None:
            return data
        base = dict(data["base"])
        for field, values in varied.items():
            if field in REQUIRED_BASE_FIELDS and field not in base and isinstance(values, list) and values:
                base[field] = values[0]
        return {**data, "base": base}

    @model_validator(mode="after")
    def _grid_or_search(self) -> SweepRequest:
        if (self.grid is None) == (self.search is None):
            raise ValueError("give either `grid` (every combination) or `search` (trials drawn and pruned), not both")
        return self

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
            raise ValueError(f"must be at most {METADATA_MAX_BYTES // 1024} KiB of JSON")
        return value

    def stored_request(self, members: Sequence[Member] = ()) -> dict[str, Any]:
        """What the sweep row keeps: the base as parsed and the grid's varied fields, or the search
        with its trials' values (``members``), in trial order."""
        base = self.base.model_dump(mode="json")
        if self.search is not None:
            return {"base": base, "search": self.search.model_dump(mode="json"), "trials": [m.values for m in members]}
        assert self.grid is not None
        return {"base": base, "grid": self.grid.fields()}

    @property
    def root(self) -> Location:
        """Where the varied fields sit in the request: ``("grid",)`` or ``("search", "space")``."""
        return ("grid",) if self.grid is not None else ("search", "space")


@dataclass(frozen=True)
class Member:
    """One job of a sweep: its place in the expansion, the grid values it takes, its request."""

    index: int
    values: dict[str, Any]  # grid field -> value (SD-only fields left out for other methods); a trial's drawn values
    request: JobRequest
    root: Location = ("grid",)  # where its varied fields sit in the sweep request

    def describe(self, total: int) -> str:
        """``member 4 of 12 (method sd-kd, beta 2.0, seed 1)``, for messages."""
        return describe_member(self.index, self.values, total)

    def location(self, location: Location) -> Location:
        """A location inside this member's job request, as a location in the sweep request."""
        return sweep_location(self.values, location, self.root)


def describe_member(index: int, values: Mapping[str, Any], total: int) -> str:
    shown = ", ".join(f"{field} {value}" for field, value in values.items())
    return f"member {index + 1} of {total}" + (f" ({shown})" if shown else "")


def sweep_location(values: Mapping[str, Any], location: Location, root: Location = ("grid",)) -> Location:
    """``("scales",)`` -> ``("grid", "scales")`` when the grid gave the member its scales, else
    ``("base", "scales")``; a search's member: ``("search", "space", "scales")``."""
    for field, path in FIELD_PATHS.items():
        if field in values and tuple(location[: len(path)]) == path:
            return (*root, field)
    return ("base", *location)


def member_count(sweep: SweepRequest) -> int:
    """How many members ``expand`` makes, computed from the lists' lengths alone (a search: its trials)."""
    if sweep.search is not None:
        return sweep.search.trials
    assert sweep.grid is not None
    grid = sweep.grid.fields()
    methods: list[str] = grid.get("method") or [sweep.base.method]
    total = 0
    for method in methods:
        sizes = [
            len(values)
            for field, values in grid.items()
            if field != "method" and (method in SD_METHODS or field not in SD_ONLY_FIELDS)
        ]
        total += math.prod(sizes)
    return total


def expand(sweep: SweepRequest, max_members: int) -> list[Member]:
    """Every member of ``sweep``, each a job request checked like a submitted body; at most ``max_members``."""
    count = member_count(sweep)
    if count > max_members:
        raise LimitExceeded(
            f"grid: this sweep makes {count} member jobs, over this service's limit of {max_members} per sweep "
            "(SDD_MAX_SWEEP_SIZE); sweep fewer values or split it into several sweeps",
            location=("search", "trials") if sweep.search is not None else ("grid",),
        )
    base = sweep.base.model_dump(mode="json")
    if sweep.search is not None:
        return _trials(sweep, sweep.search, base)
    assert sweep.grid is not None
    grid = sweep.grid.fields()
    methods = grid.get("method") or [sweep.base.method]
    for field in SD_ONLY_FIELDS & set(grid):
        if not any(method in SD_METHODS for method in methods):
            raise InvalidRequest(
                f"grid.{field}: {field} only shapes the scale-decoupled methods ({', '.join(sorted(SD_METHODS))}), "
                "and no member of this sweep uses one; add one to the methods or leave the field out",
                location=("grid", field),
            )
    return [
        Member(index=index, values=values, request=_member_request(base, index, values, count))
        for index, values in enumerate(_combinations(grid, sweep.base.method))
    ]


def _trials(sweep: SweepRequest, search: SweepSearch, base: dict[str, Any]) -> list[Member]:
    """The search's members: one per trial drawn (``sweep_search.sample_trials``), with the base's method."""
    if sweep.base.method not in SD_METHODS:
        for field in [field for field in search.space.fields() if field in SD_ONLY_FIELDS]:  # the first named
            raise InvalidRequest(
                f"search.space.{field}: {field} only shapes the scale-decoupled methods "
                f"({', '.join(sorted(SD_METHODS))}), and this search trains {sweep.base.method}; "
                "set base.method to one of them or leave the field out",
                location=("search", "space", field),
            )
    root: Location = ("search", "space")
    trials = sample_trials(search)
    return [
        Member(index=index, values=values, request=_member_request(base, index, values, len(trials), root), root=root)
        for index, values in enumerate(trials)
    ]


def _combinations(grid: Mapping[str, list[Any]], base_method: str) -> Iterator[dict[str, Any]]:
    """The grid's product in ``GRID_FIELDS`` order, SD-only fields dropped (and the copies skipped) for other methods."""
    seen: set[str] = set()
    for combination in itertools.product(*grid.values()):
        values = dict(zip(grid, combination, strict=True))
        if values.get("method", base_method) not in SD_METHODS:
            values = {field: value for field, value in values.items() if field not in SD_ONLY_FIELDS}
        canonical = json.dumps(values, sort_keys=True)
        if canonical not in seen:
            seen.add(canonical)
            yield values


def _member_request(
    base: dict[str, Any], index: int, values: dict[str, Any], total: int, root: Location = ("grid",)
) -> JobRequest:
    body = {**base, "hyperparameters": dict(base.get("hyperparameters") or {})}
    for field, value in values.items():
        if field == "temperature":
            body["hyperparameters"]["temperature"] = value
        else:
            body[field] = value
    if body.get("method") not in SD_METHODS:  # scales and beta shape the SD methods only: not this member
        body = {key: value for key, value in body.items() if key not in SD_ONLY_FIELDS}
    try:
        return JobRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        location: Location = tuple(part for part in first["loc"] if isinstance(part, int) or "[" not in part)
        field = ".".join(str(part) for part in location) or "body"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidRequest(
            f"{describe_member(index, values, total)}: {field}: {message}",
            location=sweep_location(values, location, root),
        ) from exc

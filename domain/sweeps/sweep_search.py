"""A sweep that searches instead of enumerating: ``SweepSearch``, its trials, and its rungs.

    {"base": <a POST /v1/jobs body>, "search": {"trials": 9, "space": {"beta": {"low": 0.5, "high": 8, "log": true},
     "temperature": {"low": 1, "high": 8}, "scales": [[1, 2], [1, 2, 4]], "student": ["resnet8", "resnet20"]},
     "pruning": {"min_epochs": 1, "reduction_factor": 3}}}

Sampling. ``trials`` points are drawn from ``space`` by Optuna (``sample_trials``): ranges by a
scrambled Sobol sequence (``"sampler": "qmc"``, the default: a few points cover the ranges evenly)
or independently at random (``"random"``); lists (scales, students, or values of β/T) are drawn
uniformly. Every trial is asked before any is trained, because they all start together as one
lockstep group; so no sampler can learn from earlier trials here. The draw depends on ``seed``
alone: the same request makes the same trials.

Pruning. Successive halving on validation top-1 (Jamieson & Talwalkar 2016; Optuna's
``SuccessiveHalvingPruner`` uses the same rule asynchronously): rung k is the end of epoch
``min_epochs · reduction_factor^k`` (``rung_epochs``: every such epoch before the last one), and
of the trials that reach a rung, the best ``max(1, n // reduction_factor)`` by val top-1 there go
on; the others are pruned. Exactly that many: equal top-1s (a small validation split has few
distinct values, and early epochs tie often) are ordered by the lower val loss, then by trial
order, where Optuna's rule would keep every tie and prune nothing on a rung where all tie. Applied synchronously: a rung is decided once every trial still in the search has
reported its value there (``domain.sweeps.search_rungs``), so the decision does not depend on
which trial reported first. ``"pruning": null`` trains every trial to the end (a random search).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SEARCH_FIELDS: tuple[str, ...] = ("student", "scales", "beta", "temperature")
"""What a search may vary, in the order a trial lists them."""
MAX_DRAWS_PER_TRIAL = 50  # draws before giving up on distinct trials (a space of lists is checked first)
SIGNIFICANT_DIGITS = 4  # a drawn β or T, rounded: what the trial's job stores and shows


class FloatRange(BaseModel):
    """A range to draw a number from: ``low`` to ``high``, on a log scale with ``log``."""

    model_config = ConfigDict(extra="forbid")

    low: float = Field(description="The smallest value.", examples=[0.5])
    high: float = Field(description="The largest value.", examples=[8.0])
    log: bool = Field(False, description="Draw on a log scale (for ranges over orders of magnitude; low > 0).")

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not math.isfinite(self.low) or not math.isfinite(self.high) or self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (low is {self.low})")
        return self


def _distinct(values: list[Any] | None) -> list[Any] | None:
    if values is not None:
        if not values:
            raise ValueError("must list at least one value (or leave the field out)")
        if len({repr(value) for value in values}) != len(values):
            raise ValueError("lists a value twice; every value must be different")
    return values


class SearchSpace(BaseModel):
    """Where the trials are drawn from: a range or a list of values per field; fields left out come from ``base``."""

    model_config = ConfigDict(extra="forbid")

    beta: FloatRange | list[Annotated[float, Field(ge=0)]] | None = Field(
        None, description="β, the weight of the complementary regions (SD methods): a range or values."
    )
    temperature: FloatRange | list[Annotated[float, Field(gt=0)]] | None = Field(
        None, description="The distillation temperature T: a range or values."
    )
    scales: list[list[int]] | None = Field(None, description="Scale lists to choose from, e.g. [[1, 2], [1, 2, 4]].")
    student: list[str] | None = Field(None, description="Student architectures to choose from.")

    @field_validator("beta", "temperature")
    @classmethod
    def _ranges_within_bounds(cls, value: FloatRange | list[float] | None, info: Any) -> Any:
        if isinstance(value, FloatRange):
            if info.field_name == "beta" and value.low < 0:
                raise ValueError("β cannot be negative")
            if info.field_name == "temperature" and value.low <= 0:
                raise ValueError("the temperature must be above 0")
            return value
        return _distinct(value)

    @field_validator("scales", "student")
    @classmethod
    def _distinct_choices(cls, value: list[Any] | None) -> list[Any] | None:
        return _distinct(value)

    @model_validator(mode="after")
    def _varies_something(self) -> SearchSpace:
        if not self.fields():
            raise ValueError(f"name at least one field to search: {', '.join(SEARCH_FIELDS)}")
        return self

    def fields(self) -> dict[str, Any]:
        """The fields searched, in ``SEARCH_FIELDS`` order, with their range or values."""
        return {field: value for field in SEARCH_FIELDS if (value := getattr(self, field)) is not None}


class Pruning(BaseModel):
    """Successive halving: rungs at ``min_epochs · reduction_factor^k`` epochs, keeping the best 1/``reduction_factor``."""

    model_config = ConfigDict(extra="forbid")

    min_epochs: int = Field(1, ge=1, description="Epochs before the first rung.")
    reduction_factor: int = Field(3, ge=2, le=10, description="η: each rung keeps the best 1/η of its trials.")


class SweepSearch(BaseModel):
    """A search: ``trials`` configurations drawn from ``space``, trained together and pruned at rungs."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"trials": 9, "space": {"beta": {"low": 0.5, "high": 8, "log": True}}}]})  # fmt: skip

    trials: int = Field(ge=2, description="How many configurations to draw and start.", examples=[9])
    space: SearchSpace
    sampler: Literal["qmc", "random"] = Field(
        "qmc", description="qmc: a scrambled Sobol sequence over the ranges (even cover); random: independent draws."
    )
    seed: int = Field(0, ge=0, description="The sampler's seed: the same seed draws the same trials.")
    pruning: Pruning | None = Field(
        default_factory=Pruning,
        description="Successive halving on validation top-1; null trains every trial to the end.",
    )

    @model_validator(mode="after")
    def _room_for_the_trials(self) -> SweepSearch:
        size = finite_size(self.space)
        if size is not None and self.trials > size:
            raise ValueError(
                f"the space holds {size} different configurations, fewer than the {self.trials} trials asked for; "
                "ask for fewer trials, give a range, or sweep the values as a grid"
            )
        return self


def rung_epochs(epochs: int, pruning: Pruning | None) -> list[int]:
    """The epochs ending a rung, before the last epoch: ``min_epochs · η^k`` < ``epochs``."""
    if pruning is None:
        return []
    rungs, epoch = [], pruning.min_epochs
    while epoch < epochs:
        rungs.append(epoch)
        epoch *= pruning.reduction_factor
    return rungs


def kept_count(contenders: int, reduction_factor: int) -> int:
    """How many of a rung's ``contenders`` go on: ``max(1, n // η)``."""
    return max(1, contenders // reduction_factor)


def sample_trials(search: SweepSearch) -> list[dict[str, Any]]:
    """The trials' values ({field: value}, in ``SEARCH_FIELDS`` order), drawn by Optuna from ``search.space``."""
    import optuna  # only where a search is submitted: the API starts without it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search.space.fields()
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    for field, value in space.items():
        if isinstance(value, FloatRange):
            distributions[field] = optuna.distributions.FloatDistribution(value.low, value.high, log=value.log)
        else:  # a list: choose its index (Optuna's choices must be plain scalars)
            distributions[field] = optuna.distributions.CategoricalDistribution(list(range(len(value))))
    with warnings.catch_warnings():  # the QMC sampler is marked experimental; its categorical draws are independent
        warnings.simplefilter("ignore")
        sampler: optuna.samplers.BaseSampler = (
            optuna.samplers.QMCSampler(
                qmc_type="sobol", scramble=True, seed=search.seed, warn_independent_sampling=False
            )
            if search.sampler == "qmc"
            else optuna.samplers.RandomSampler(seed=search.seed)
        )
        logging.getLogger("optuna").setLevel(logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        drawn: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _ in range(MAX_DRAWS_PER_TRIAL * search.trials):  # a repeated draw would train the same job twice
            params = study.ask(distributions).params
            values = {
                field: _rounded(params[field]) if isinstance(value, FloatRange) else value[int(params[field])]
                for field, value in space.items()
            }
            if repr(values) not in seen:
                seen.add(repr(values))
                drawn.append(values)
                if len(drawn) == search.trials:
                    break
    return drawn


def finite_size(space: SearchSpace) -> int | None:
    """How many different trials a space of lists alone holds (None: it has a range)."""
    values = list(space.fields().values())
    if any(isinstance(value, FloatRange) for value in values):
        return None
    return math.prod(len(value) for value in values)


def _rounded(value: float) -> float:
    """``value`` to ``SIGNIFICANT_DIGITS`` significant digits: 2.371 rather than 2.3712983748."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")

"""Sweeps: submit a grid of jobs, list, read, cancel, and the report (JSON, Markdown, curves)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import CurrentTenant, SessionDep, SettingsDep, SweepIdempotencyKey, mark_replayed
from api.pagination import PageDep
from api.schemas.errors import error_responses
from api.schemas.sweeps import SweepCreate, SweepPublic, SweepsPublic, SweepSummaryPublic
from domain.jobs.cancellation import cancel_sweep as cancel_owned_sweep
from domain.sweeps import sweep_reads
from domain.sweeps.sweep_report import SweepReport
from domain.sweeps.sweep_submission import submit_sweep
from sdd_client import models
from sdd_client.plot_formats import MEDIA_TYPES, PlotFormat
from sdd_client.sweep_report_markdown import report_markdown

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

SweepId = Annotated[str, Path(description="The sweep's id, e.g. swp_3f9c…", max_length=40)]
MARKDOWN_MEDIA_TYPE = "text/markdown"
Within = Annotated[
    float | None,
    Query(
        ge=0,
        le=100,
        description="Points of top-1 below the teacher's that you accept: the report's `cost.within` names the "
        "fastest student (CPU latency, batch 1) no further below, or says none is.",
        examples=[1.0],
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SweepPublic,
    responses=error_responses(400, 404, 409, 413),
    summary="Submit a sweep: a grid of distillation jobs, or a search that prunes",
)
def create_sweep(
    body: SweepCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    tenant: CurrentTenant,
    idempotency_key: SweepIdempotencyKey = None,
) -> SweepPublic:
    """Expand the grid into member jobs, validate every one as POST /v1/jobs would, store them all as
    ``queued`` in one go and send them to the workers.

    The grid may vary `method`, `student`, `scales`, `beta`, `temperature` and `seed`; its cross
    product makes the members (β and scales apply to the SD methods only, so a KD member is made
    once, not once per β). One member that cannot train refuses the whole sweep and nothing is
    stored; `param` names the field (`grid.scales`, `base.teacher.job`). More members than
    `SDD_MAX_SWEEP_SIZE` is a 422 naming the count; the limit on jobs in flight counts every member.

    Or a **search** instead of a grid: `{"search": {"trials": 9, "space": {"beta": {"low": 0.5, "high": 8,
    "log": true}, "temperature": {"low": 1, "high": 8}, "scales": [[1, 2], [1, 2, 4]], "student": [...]}}}`.
    Optuna draws the trials (a scrambled Sobol sequence by default, or `"sampler": "random"`; `seed` fixes
    the draw); they start together, one lockstep group where they agree, and are pruned by successive
    halving on validation top-1 (`pruning`: rungs at `min_epochs · reduction_factor^k` epochs, each keeping
    the best 1/`reduction_factor`; null for none). A pruned trial ends `pruned` with its `status_reason`;
    the report's `search` shows each trial's rung and the images trained against the full grid.
    """
    submission = submit_sweep(session, settings, tenant, body, idempotency_key)
    mark_replayed(response, submission.replayed)
    return SweepPublic.from_view(sweep_reads.view_of(submission.sweep, submission.members))


@router.get("", response_model=SweepsPublic, summary="List your sweeps, newest first")
def list_sweeps(session: SessionDep, tenant: CurrentTenant, page: PageDep) -> SweepsPublic:
    views, has_more = sweep_reads.list_sweeps(session, tenant.id, page)
    return SweepsPublic(data=[SweepSummaryPublic.from_view(view) for view in views], has_more=has_more)


@router.get("/{sweep_id}", response_model=SweepPublic, responses=error_responses(404), summary="Read a sweep")
def get_sweep(sweep_id: SweepId, session: SessionDep, tenant: CurrentTenant) -> SweepPublic:
    """The sweep, its status and progress derived from its members, and the members themselves."""
    return SweepPublic.from_view(sweep_reads.get_sweep(session, tenant.id, sweep_id))


@router.post(
    "/{sweep_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SweepPublic,
    responses=error_responses(404, 409),
    summary="Cancel a sweep",
)
def cancel_sweep(sweep_id: SweepId, session: SessionDep, tenant: CurrentTenant) -> SweepPublic:
    """Cancel every unfinished member, as POST /v1/jobs/{id}/cancel would; 409 when all have finished."""
    cancel_owned_sweep(session, tenant.id, sweep_id)
    return SweepPublic.from_view(sweep_reads.get_sweep(session, tenant.id, sweep_id))


REPORT_DESCRIPTION = """\
Which configuration, by how much, how sure — from the members that succeeded so far:

- per configuration (a member's spec minus its seed): final and best val top-1/top-5 and final
  test top-1, mean ± sample standard deviation over seeds and their number; an SD configuration's
  gain over its own base method (sd-dkd over dkd, sd-nkd over nkd, else kd) for the same seed, on
  test under protocol held_out (val under literature), with a paired 95% confidence interval and
  the Holm–Bonferroni-corrected one over the SD configurations compared; wall time and images/s;
- per class: each member's final per-class accuracy, and the best SD configuration's per-class
  gain over KD, largest first (when the members' results record per-class counts);
- the confusion matrix of the best member;
- a recommendation: the configuration chosen on val top-1 and its gain on the reported split, with
  the protocol, the correction and the family size, or "no configuration beats its base beyond noise";
- accuracy against cost (`cost`): per configuration its student's parameters, FLOPs per image and
  latency (onnxruntime on the worker's CPU at batch 1 and 64, 1 thread; CUDA where it trained on a
  GPU), the Pareto frontiers of top-1 against CPU latency and against parameters, and with
  `?within=1.0` the fastest student at most 1.0 points below the teacher's top-1 (on test when
  recorded, else val), or that none is.

`?format=markdown` answers the same report as `text/markdown`; `report/cost.svg` draws the cost part.
"""


@router.get(
    "/{sweep_id}/report",
    response_model=SweepReport,
    responses={
        200: {
            "content": {MARKDOWN_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "The report, as JSON or (with `?format=markdown`) as Markdown.",
        },
        **error_responses(404),
    },
    summary="A sweep's report",
    description=REPORT_DESCRIPTION,
)
def sweep_report(
    sweep_id: SweepId,
    session: SessionDep,
    tenant: CurrentTenant,
    format_: Annotated[
        Literal["json", "markdown"], Query(alias="format", description="`json` (default) or `markdown`.")
    ] = "json",
    within: Within = None,
) -> Any:
    view = sweep_reads.get_sweep(session, tenant.id, sweep_id)
    report = sweep_reads.sweep_report(session, view, within=within)
    if format_ == "markdown":
        markdown = report_markdown(models.SweepReport.model_validate(asdict(report)))  # as a client reads it
        return Response(markdown, media_type=f"{MARKDOWN_MEDIA_TYPE}; charset=utf-8")
    return report


def _curve_responses(fmt: PlotFormat) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {MEDIA_TYPES[fmt]: {"schema": {"type": "string", "format": "binary"}}},
            "description": f"The members' val top-1 curves overlaid, as {fmt.upper()}.",
        }
    }


def _curves(sweep_id: str, fmt: PlotFormat, session: SessionDep, tenant: CurrentTenant) -> Response:
    # imported here: matplotlib loads with the first curve drawn, not with the API
    from sdd_client.plots import render_overlay

    view = sweep_reads.get_sweep(session, tenant.id, sweep_id)
    curves = sweep_reads.sweep_curves(session, view)
    session.commit()  # no database connection held while drawing
    title = f"{view.sweep.name or view.sweep.id}: val top-1 of {len(view.members)} members"
    return Response(
        render_overlay(curves, fmt, title=title), media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "no-store"}
    )


CURVES_DESCRIPTION = (
    "Every member's validation top-1 per epoch in one panel: one colour per configuration, one line "
    "style per seed. Drawn for each request from the metrics so far."
)


@router.get(
    "/{sweep_id}/report/curves.svg",
    response_class=Response,
    responses={**_curve_responses("svg"), **error_responses(404)},
    summary="A sweep's val top-1 curves (SVG)",
    description=CURVES_DESCRIPTION,
)
def sweep_curves_svg(sweep_id: SweepId, session: SessionDep, tenant: CurrentTenant) -> Response:
    return _curves(sweep_id, "svg", session, tenant)


@router.get(
    "/{sweep_id}/report/curves.png",
    response_class=Response,
    responses={**_curve_responses("png"), **error_responses(404)},
    summary="A sweep's val top-1 curves (PNG)",
    description=CURVES_DESCRIPTION,
)
def sweep_curves_png(sweep_id: SweepId, session: SessionDep, tenant: CurrentTenant) -> Response:
    return _curves(sweep_id, "png", session, tenant)


def _cost_responses(fmt: PlotFormat) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {MEDIA_TYPES[fmt]: {"schema": {"type": "string", "format": "binary"}}},
            "description": f"Top-1 against latency and against parameters, as {fmt.upper()}.",
        }
    }


def _cost_plot(
    sweep_id: str, fmt: PlotFormat, within: float | None, session: SessionDep, tenant: CurrentTenant
) -> Response:
    from sdd_client.cost_plots import render_cost  # imported here: matplotlib loads with the first plot drawn

    view = sweep_reads.get_sweep(session, tenant.id, sweep_id)
    report = sweep_reads.sweep_report(session, view, within=within)
    session.commit()  # no database connection held while drawing
    cost = models.SweepReport.model_validate(asdict(report)).cost  # as a client reads it
    title = f"{view.sweep.name or view.sweep.id}: accuracy against cost"
    return Response(
        render_cost(cost, fmt, title=title), media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "no-store"}
    )


COST_DESCRIPTION = (
    "One point per configuration: its final val top-1 against its student's CPU latency (onnxruntime, "
    "batch 1) and against its parameters; filled markers are on the Pareto frontier, the dashed line is the "
    "teacher's top-1 and, with `?within=`, the dotted line that many points below it, the chosen student ringed."
)


@router.get(
    "/{sweep_id}/report/cost.svg",
    response_class=Response,
    responses={**_cost_responses("svg"), **error_responses(404)},
    summary="A sweep's accuracy against cost (SVG)",
    description=COST_DESCRIPTION,
)
def sweep_cost_svg(sweep_id: SweepId, session: SessionDep, tenant: CurrentTenant, within: Within = None) -> Response:
    return _cost_plot(sweep_id, "svg", within, session, tenant)


@router.get(
    "/{sweep_id}/report/cost.png",
    response_class=Response,
    responses={**_cost_responses("png"), **error_responses(404)},
    summary="A sweep's accuracy against cost (PNG)",
    description=COST_DESCRIPTION,
)
def sweep_cost_png(sweep_id: SweepId, session: SessionDep, tenant: CurrentTenant, within: Within = None) -> Response:
    return _cost_plot(sweep_id, "png", within, session, tenant)

"""Sweeps through the client: ``SDDClient``'s sweep calls and ``sdd sweeps …``, against the real API app
(its ``TestClient``, and uvicorn on a real socket for ``watch``). The worker's part is played in SQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from sdd_cli.main import cli as sdd_command
from sdd_client import SDDClient, cli_support
from sdd_client.models import Job, Sweep, SweepReport
from tests.api.conftest import Api
from tests.sdd_client.conftest import TEST_URL, epoch, fail_job, metrics_row, play_worker, start_job, succeed_running
from tests.sdd_client.test_cli import Run, _runner


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    """``sdd …`` with SDD_URL/SDD_TOKEN set, talking to the app through its TestClient."""
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "config" / "sdd.json"))
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.setattr(
        cli_support, "make_client", lambda config: SDDClient(config.url, config.token, client=api.client)
    )
    return _runner({"SDD_URL": TEST_URL, "SDD_TOKEN": api.token})


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def teacher(api: Api) -> str:
    job = api.create_job()
    api.succeed_job(job["id"])
    return str(job["id"])


def run_member(api: Api, job_id: str, top1: float) -> None:
    """Two epochs, then succeeded with ``top1`` as the final val top-1."""
    start_job(api, job_id)
    epoch(api, job_id, metrics_row(1, 2, top1 - 5))
    epoch(api, job_id, metrics_row(2, 2, top1))
    succeed_running(api, job_id, (top1 - 5, top1))


def kd_vs_sd(api: Api, sdd: SDDClient, seeds: int = 2) -> Sweep:
    base = {
        "dataset": "digits",
        "student": "resnet8",
        "teacher": {"job": teacher(api)},
        "hyperparameters": {"epochs": 2},
    }
    return sdd.submit_sweep({"base": base, "grid": {"method": ["kd", "sd-kd"], "seed": list(range(seeds))}})


def test_the_client_submits_reads_cancels_and_reports(api: Api, sdd: SDDClient) -> None:
    sweep = kd_vs_sd(api, sdd)
    assert isinstance(sweep, Sweep) and sweep.status == "queued" and sweep.member_count == 4
    assert all(isinstance(job, Job) and job.sweep_id == sweep.id for job in sweep.members)
    assert sweep.request.grid == {"method": ["kd", "sd-kd"], "seed": [0, 1]} and len(sweep.groups) == 2
    assert sdd.get_sweep(sweep.id).members == sweep.members
    assert [s.id for s in sdd.iter_sweeps()] == [sweep.id]
    assert {job.id for job in sdd.iter_jobs(sweep_id=sweep.id)} == {job.id for job in sweep.members}
    again = sdd.submit_sweep(sweep.request.model_dump(), idempotency_key="k")
    assert sdd.submit_sweep(sweep.request.model_dump(), idempotency_key="k").id == again.id

    for job, top1 in zip(sweep.members, (90.0, 91.0, 92.0, 94.0), strict=True):
        run_member(api, job.id, top1)
    report = sdd.sweep_report(sweep.id)
    assert isinstance(report, SweepReport) and report.status == "succeeded"
    kd, sd = report.configurations
    assert (kd.label, kd.is_baseline, kd.final_top1.mean) == ("kd", True, 90.5)
    assert sd.gain is not None and (sd.gain.mean, sd.gain.n) == (2.5, 2)  # diffs 2 and 3
    assert sd.gain.half_width == pytest.approx(12.7062 * 0.5)  # t_{0.975,1} * sd 0.7071 / sqrt(2)
    assert report.recommendation.text.startswith("no configuration beats its base beyond noise (chosen on val: sd-kd")
    assert report.configuration_of(sweep.members[3].id) == sd
    assert report.per_class.available is False  # these members recorded no per-class counts
    assert sdd.sweep_report_markdown(sweep.id).startswith(f"# Sweep {sweep.id}\n")

    cancelled = sdd.cancel_sweep(again.id)
    assert cancelled.status == "cancelled" and {job.status for job in cancelled.members} == {"cancelled"}


def test_submit_from_flags(api: Api, cli: Run) -> None:
    teacher_id = teacher(api)
    sweep = _json(
        cli(
            "sweeps",
            "submit",
            "--dataset",
            "digits",
            "--student",
            "resnet8",
            "--teacher-job",
            teacher_id,
            "--methods",
            "kd,sd-kd",
            "--beta",
            "0,2",
            "--scales",
            "1,2/1,2,4",
            "--seeds",
            "0,1",
            "--temperature",
            "4",
            "--epochs",
            "3",
            "--name",
            "flags",
            "--metadata",
            "study=beta",
            "--json",
        )
    )
    assert sweep["request"]["grid"] == {
        "method": ["kd", "sd-kd"],
        "scales": [[1, 2], [1, 2, 4]],
        "beta": [0.0, 2.0],
        "seed": [0, 1],
    }
    assert (
        sweep["member_count"] == 2 + 2 * 2 * 2 and sweep["name"] == "flags" and sweep["metadata"] == {"study": "beta"}
    )
    hyper = sweep["members"][0]["spec"]["hyperparameters"]
    assert (hyper["epochs"], hyper["temperature"]) == (3, 4.0)  # one value: the base's
    plain = cli("sweeps", "submit", "--dataset", "digits", "--student", "resnet8", "--teacher-job", teacher_id,
                "--method", "sd-kd", "--seeds", "0,1")  # fmt: skip
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("swp_") and "2 member jobs" in plain.stderr


def test_submit_from_a_file_with_flag_overrides_and_refusals(api: Api, cli: Run, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    base = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": {"job": teacher(api)}}
    spec.write_text(
        yaml.safe_dump({"name": "file", "base": base, "grid": {"seed": [0, 1, 2], "method": ["kd", "sd-kd"]}})
    )
    sweep = _json(cli("sweeps", "submit", "--file", str(spec), "--seeds", "5,6", "--epochs", "2", "--json"))
    assert sweep["name"] == "file" and sweep["request"]["grid"] == {"method": ["kd", "sd-kd"], "seed": [5, 6]}
    assert sweep["members"][0]["spec"]["hyperparameters"]["epochs"] == 2

    job_file = tmp_path / "job.json"  # a plain job spec is the base
    job_file.write_text(json.dumps({**base, "method": "sd-kd"}))
    assert _json(cli("sweeps", "submit", "--file", str(job_file), "--beta", "0,1", "--json"))["member_count"] == 2

    refused = cli("sweeps", "submit", "--file", str(spec), "--scales", "2,4/1,2")
    assert refused.exit_code == 2 and refused.stderr.startswith("error [validation_error] member ")
    assert "(grid.scales)" in refused.stderr
    nothing = cli("sweeps", "submit", "--file", str(job_file), "--seeds", "3")
    assert nothing.exit_code == 2 and "nothing to sweep" in nothing.output
    bad_scales = cli("sweeps", "submit", "--file", str(job_file), "--scales", "1,x")
    assert bad_scales.exit_code == 2 and "integer scales" in bad_scales.output


def test_list_show_cancel_and_report(api: Api, sdd: SDDClient, cli: Run, tmp_path: Path) -> None:
    sweep = kd_vs_sd(api, sdd)
    listed = cli("sweeps", "list")
    assert listed.exit_code == 0 and sweep.id in listed.stdout and "method kd, sd-kd × seed 0, 1" in listed.stdout
    assert [s["id"] for s in _json(cli("sweeps", "list", "--json"))] == [sweep.id]
    shown = cli("sweeps", "show", sweep.id)
    assert shown.exit_code == 0 and all(job.id in shown.stdout for job in sweep.members)
    assert "0/8 epochs (0%) · 4 queued" in shown.stdout
    assert _json(cli("sweeps", "show", sweep.id, "--json"))["id"] == sweep.id

    for job, top1 in zip(sweep.members, (90.0, 91.0, 92.0, 94.0), strict=True):
        run_member(api, job.id, top1)
    table = cli("sweeps", "report", sweep.id)
    assert table.exit_code == 0 and "recommendation: no configuration beats its base beyond noise" in table.stdout
    assert "+2.50 [-3.85, +8.85]" in table.stdout and "90.50 ± 0.71" in table.stdout
    assert _json(cli("sweeps", "report", sweep.id, "--json"))["configurations"][1]["gain"]["mean"] == 2.5
    markdown = cli("sweeps", "report", sweep.id, "--markdown")
    assert markdown.exit_code == 0 and markdown.stdout.startswith(f"# Sweep {sweep.id}\n")
    for suffix, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
        plot = tmp_path / f"curves.{suffix}"
        drawn = cli("sweeps", "report", sweep.id, "--plot", str(plot))
        assert drawn.exit_code == 0 and plot.read_bytes().startswith(magic), drawn.output
    legend = f"sd-kd, β 2, scales [1, 2, 4] · seed 1 · {sweep.members[3].id}"
    assert legend.encode() in (tmp_path / "curves.svg").read_bytes()
    assert cli("sweeps", "report", sweep.id, "--plot", str(tmp_path / "x.pdf")).exit_code == 2

    assert cli("sweeps", "cancel", sweep.id).exit_code == 2  # every member finished: nothing to cancel
    other = kd_vs_sd(api, sdd, seeds=1)
    cancelled = cli("sweeps", "cancel", other.id)
    assert cancelled.exit_code == 0 and cancelled.stdout.startswith(f"{other.id} cancelled")
    assert cli("sweeps", "show", "swp_nope").stderr.startswith("error [not_found]")


def test_a_sweep_is_named_by_its_id_a_prefix_or_its_name_and_its_members_by_theirs(
    api: Api, sdd: SDDClient, cli: Run
) -> None:
    base = {
        "dataset": "digits",
        "student": "resnet8",
        "teacher": {"job": teacher(api)},
        "hyperparameters": {"epochs": 2},
    }
    sweep = sdd.submit_sweep({"name": "kd or sd", "base": base, "grid": {"method": ["kd", "sd-kd"]}})
    for ref in ("kd or sd", sweep.id[:10]):
        assert _json(cli("sweeps", "show", ref, "--json"))["id"] == sweep.id, ref
        assert _json(cli("sweeps", "report", ref, "--json"))["sweep_id"] == sweep.id, ref
    shown = cli("sweeps", "show", "kd or sd").stdout
    for job in sweep.members:
        line = next(line for line in shown.splitlines() if line.startswith(job.id))
        assert job.name and job.name in line and "queued" in line
    assert cli("sweeps", "cancel", sweep.id[:12]).stdout.startswith(f"{sweep.id} cancelled")
    missing = cli("sweeps", "watch", "kd or sd?")
    assert missing.exit_code == 2 and missing.stderr.startswith("error [not_found] no sweep matches 'kd or sd?'")


def test_watch_over_a_real_server(api: Api, sdd: SDDClient, live_url: str, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "sdd.json"))
    monkeypatch.setenv("COLUMNS", "220")
    live = _runner()
    auth = ("--url", live_url, "--token", api.token)
    sweep = kd_vs_sd(api, sdd, seeds=1)
    workers = [play_worker(api, job.id, 2, "succeeded") for job in sweep.members]
    watched = live("sweeps", "watch", sweep.id, "--poll", "0.05", *auth)
    for worker in workers:
        worker.join(timeout=10)
    assert watched.exit_code == 0, watched.output
    assert all(f"{job.id} running -> succeeded" in watched.stdout for job in sweep.members)
    assert "recommendation: sd-kd, β 2, scales [1, 2, 4]: +0.00 over kd on val, 1 seed" in watched.stdout

    failing = kd_vs_sd(api, sdd, seeds=1)
    start_job(api, failing.members[0].id)
    fail_job(api, failing.members[0].id)
    workers = [play_worker(api, failing.members[1].id, 1, "succeeded")]
    watched = live("sweeps", "watch", failing.id, "--poll", "0.05", *auth)
    workers[0].join(timeout=10)
    assert watched.exit_code == 1 and f"{failing.id} failed" in watched.stderr
    assert sdd_command.commands["sweeps"].commands.keys() >= {"submit", "list", "show", "watch", "cancel", "report"}


def test_a_search_from_a_file_shown_and_resubmitted_as_it_reads(
    api: Api, sdd: SDDClient, cli: Run, tmp_path: Path
) -> None:
    spec = tmp_path / "search.yaml"
    base = {"dataset": "digits", "student": "resnet8", "method": "sd-kd", "teacher": {"job": teacher(api)}}
    search = {"trials": 4, "space": {"beta": {"low": 0.5, "high": 8, "log": True}, "scales": [[1, 2], [1, 2, 4]]}}
    spec.write_text(yaml.safe_dump({"name": "look", "base": base, "search": search}))
    sweep = _json(cli("sweeps", "submit", "--file", str(spec), "--epochs", "3", "--protocol", "literature", "--json"))
    assert {m["spec"]["protocol"] for m in sweep["members"]} == {"literature"}
    assert sweep["member_count"] == 4 and sweep["request"]["grid"] is None and len(sweep["trials"]) == 4
    assert [m["spec"]["beta"] for m in sweep["members"]] == [t["beta"] for t in sweep["trials"]]
    assert sweep["members"][0]["name"].startswith("look trial 1 ")
    shown = cli("sweeps", "show", sweep["id"])
    assert shown.exit_code == 0 and "search: 4 trials over beta, scales" in shown.stdout
    again = sdd.submit_sweep(sdd.get_sweep(sweep["id"]).request.model_dump())  # the request as read: the same draw
    assert [m.spec.beta for m in again.members] == [m["spec"]["beta"] for m in sweep["members"]]
    refused = cli("sweeps", "submit", "--file", str(spec), "--seeds", "0,1")
    assert refused.exit_code == 2 and "the file asks for a search; --seed with several values" in refused.output

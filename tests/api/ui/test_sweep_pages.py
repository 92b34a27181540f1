"""The dashboard's sweep pages: the list, one sweep (report, recommendation, curves, members), cancel."""

from __future__ import annotations

import re
from typing import Any

from domain.jobs.transitions import claim, finish, record_epoch
from tests.api.conftest import Api
from tests.api.ui.test_pages import Browser, browser_for


def kd_vs_sd_sweep(api: Api, **body: Any) -> dict[str, Any]:
    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    base = {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": {"job": teacher["id"]}}
    request = {"base": base | {"hyperparameters": {"epochs": 2}}, "grid": {"method": ["kd", "sd-kd"], "seed": [0, 1]}}
    response = api.post("/v1/sweeps", json=request | body)
    assert response.status_code == 201, response.text
    return response.json()


def finish_member(api: Api, job_id: str, top1: float, **result: Any) -> None:
    with api.session() as session:
        assert claim(session, job_id, "test-worker", 60)
        for epoch in (1, 2):
            assert record_epoch(session, job_id, {"epoch": epoch, "epochs": 2, "val_top1": top1 - 2 + epoch})
        assert finish(session, job_id, "succeeded", result={"val_top1": top1, "best_val_top1": top1} | result)


def evaluated(correct: list[int], confusion: list[list[int]]) -> dict[str, Any]:
    """A member's final evaluation of three classes: right per class, and its confusion matrix."""
    names = ["cat", "dog", "<b>owl</b>"]
    return {"per_class": {"correct": correct, "total": [10, 10, 10], "classes": names}, "confusion": confusion}


def section(html: str, element_id: str) -> str:
    found = re.search(rf'<(\w+) [^>]*id="{element_id}"[^>]*>.*?</\1>', html, re.S)
    assert found is not None, element_id
    return found.group(0)


def test_the_sweep_list_and_page(api: Api, alice: Browser) -> None:
    sweep = kd_vs_sd_sweep(api, name="<script>alert(1)</script>")
    for member, top1 in zip(sweep["members"], (90.0, 91.0, 92.0, 93.5), strict=True):
        finish_member(api, member["id"], top1)

    listed = alice.get("/ui/sweeps")
    assert listed.status_code == 200 and listed.headers["content-security-policy"].startswith("default-src 'self'")
    assert f'href="/ui/sweeps/{sweep["id"]}"' in listed.text and "method kd, sd-kd × seed 0, 1" in listed.text
    assert "<script>alert(1)</script>" not in listed.text and "&lt;script&gt;" in listed.text
    assert 'href="/ui/sweeps">Sweeps</a>' in alice.get("/ui").text  # in the nav

    shown = alice.get(f"/ui/sweeps/{sweep['id']}")
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert "<script>alert(1)</script>" not in html
    assert (
        "no configuration beats its base beyond noise (chosen on val: sd-kd, β 2, scales [1, 2, 4], +2.25 ± 3.18 "
        "over kd on val, 2 seeds)" in html
    )
    assert "chosen on val, reported on val; Holm–Bonferroni correction, family of 1 configuration<" in html
    assert '<th scope="row">kd</th>' in html and "90.50 ± 0.71" in html and "+2.25 [-0.93, +5.43]" in html
    for member in sweep["members"]:
        assert f'href="/ui/jobs/{member["id"]}"' in html
    assert f'src="/ui/sweeps/{sweep["id"]}/curves.svg?epoch=8"' in html
    assert 'id="cancel-sweep-button"' not in html  # every member finished

    curves = alice.get(f"/ui/sweeps/{sweep['id']}/curves.svg?epoch=8")
    assert curves.status_code == 200 and curves.headers["content-type"] == "image/svg+xml"
    assert curves.headers["content-security-policy"].startswith("default-src 'none'")
    assert b"&lt;script&gt;" in curves.content and b"<script>" not in curves.content

    assert 'id="provisional"' not in html and "<strong>Recommendation:</strong>" in html  # every member finished
    best = section(html, "best-member")
    assert f'data-job-id="{sweep["members"][3]["id"]}"' in best and ">best</span>" in best  # 93.5, the highest
    assert html.count('class="best"') == 1
    hint = section(html, "add-seeds")  # ± 3.18 over a gain of +2.25: the seeds cannot tell
    assert "the 95% interval (± 3.18) is wider than the gain (+2.25) with 2 seeds" in hint and "Add seeds" in hint

    job_page = alice.get(f"/ui/jobs/{sweep['members'][0]['id']}").text
    assert f'A member of sweep <a href="/ui/sweeps/{sweep["id"]}">' in job_page


def test_cancel_from_the_sweep_page(api: Api, alice: Browser) -> None:
    sweep = kd_vs_sd_sweep(api)
    page = alice.get(f"/ui/sweeps/{sweep['id']}").text
    assert 'id="cancel-sweep-button"' in page and "No epoch has finished yet" in page
    assert alice.post(f"/ui/sweeps/{sweep['id']}/cancel", csrf=False).status_code == 403
    assert api.get(f"/v1/sweeps/{sweep['id']}").json()["status"] == "queued"

    done = alice.post(f"/ui/sweeps/{sweep['id']}/cancel")
    assert done.status_code == 303 and done.headers["location"] == f"/ui/sweeps/{sweep['id']}?notice=cancelled"
    assert api.get(f"/v1/sweeps/{sweep['id']}").json()["status"] == "cancelled"
    again = alice.post(f"/ui/sweeps/{sweep['id']}/cancel")
    assert again.headers["location"].endswith("?notice=finished")
    assert "nothing to cancel" in alice.get(again.headers["location"]).text


def test_another_tenant_s_sweep_is_not_found(api: Api, bob: Browser) -> None:
    sweep = kd_vs_sd_sweep(api)
    for path in (f"/ui/sweeps/{sweep['id']}", f"/ui/sweeps/{sweep['id']}/curves.svg", f"/ui/sweeps/{sweep['id']}/live"):
        response = bob.get(path)
        assert response.status_code == 404 and sweep["id"] in response.text, path
    assert bob.post(f"/ui/sweeps/{sweep['id']}/cancel").status_code == 404
    assert api.get(f"/v1/sweeps/{sweep['id']}").json()["status"] == "queued"
    assert sweep["id"] not in bob.get("/ui/sweeps").text
    anonymous = browser_for(api, None)
    assert anonymous.get(f"/ui/sweeps/{sweep['id']}").headers["location"].startswith("/ui/login?next=/ui/sweeps/")
    assert anonymous.get(f"/ui/sweeps/{sweep['id']}/curves.svg").status_code == 401
    assert anonymous.get(f"/ui/sweeps/{sweep['id']}/live").status_code == 401


def test_the_recommendation_is_provisional_while_a_member_has_not_finished(api: Api, alice: Browser) -> None:
    sweep = kd_vs_sd_sweep(api)
    kd_0, kd_1, sd_0, sd_1 = (member["id"] for member in sweep["members"])
    finish_member(api, kd_0, 90.0)
    finish_member(api, sd_0, 92.0)
    with api.session() as session:
        assert claim(session, kd_1, "test-worker", 60)  # running; sd_1 still queued

    html = alice.get(f"/ui/sweeps/{sweep['id']}").text
    recommendation = section(html, "recommendation")
    assert 'id="provisional">provisional</span>' in recommendation and "Recommendation so far:" in recommendation
    assert "sd-kd, β 2, scales [1, 2, 4]: +2.00 over kd on val, 1 seed" in recommendation
    assert "(2 of 4 members have not finished: it may change)" in recommendation
    assert f'data-job-id="{sd_0}" class="best"' in html and ">best so far</span>" in section(html, "best-member")
    assert 'id="add-seeds"' not in html  # one seed: the recommendation itself says to add seeds
    live = alice.get(f"/ui/sweeps/{sweep['id']}/live").text  # the part our JS swaps in says the same
    assert 'id="provisional"' in live


def test_the_best_members_confusion_matrix_and_class_gains_are_on_the_page(api: Api, alice: Browser) -> None:
    sweep = kd_vs_sd_sweep(api)
    kd_0, kd_1, sd_0, sd_1 = (member["id"] for member in sweep["members"])
    finish_member(api, kd_0, 90.0, **evaluated([9, 5, 7], [[9, 1, 0], [3, 5, 2], [1, 2, 7]]))
    finish_member(api, kd_1, 91.0, **evaluated([9, 6, 7], [[9, 1, 0], [2, 6, 2], [1, 2, 7]]))
    finish_member(api, sd_0, 92.0, **evaluated([9, 8, 7], [[9, 1, 0], [1, 8, 1], [1, 2, 7]]))
    finish_member(api, sd_1, 93.5, **evaluated([10, 9, 6], [[10, 0, 0], [0, 9, 1], [2, 2, 6]]))

    html = alice.get(f"/ui/sweeps/{sweep['id']}").text
    assert "GET /v1/sweeps/" not in html  # shown, not pointed at
    about = section(html, "confusion-about")
    assert "sd-kd, β 2, scales [1, 2, 4], seed 1, val top-1 93.50%" in about and f'href="/ui/jobs/{sd_1}"' in about
    matrix = section(html, "sweep-confusion")
    assert '<th scope="col" class="num">&lt;b&gt;owl&lt;/b&gt;</th>' in matrix and "<b>owl</b>" not in matrix
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", matrix)
    cells = [(name, re.findall(r">(\d+)</td>", row)) for name, row in rows]
    assert cells == [("cat", ["10", "0", "0"]), ("dog", ["0", "9", "1"]), ("&lt;b&gt;owl&lt;/b&gt;", ["2", "2", "6"])]
    assert '<td class="num diagonal">9</td>' in matrix

    gains = section(html, "class-gains")  # a compact table: the class and its gain side by side
    assert gains.startswith('<table class="per-class" id="class-gains">')
    shown = re.findall(r'<tr><th scope="row">([^<]*)</th><td class="num">([^<]*)</td></tr>', gains)
    assert shown == [("dog", "+30.00"), ("cat", "+5.00"), ("&lt;b&gt;owl&lt;/b&gt;", "-5.00")]  # largest first


def test_a_search_page_shows_each_trial_its_rung_and_the_cost_against_the_grid(api: Api, alice: Browser) -> None:
    from domain.sweeps.search_rungs import settle_rungs

    teacher = api.create_job()
    api.succeed_job(teacher["id"])
    base = {"dataset": "digits", "student": "resnet8", "method": "sd-kd", "teacher": {"job": teacher["id"]},
            "hyperparameters": {"epochs": 2}}  # fmt: skip
    search = {
        "trials": 3,
        "space": {"beta": {"low": 1, "high": 8}},
        "pruning": {"min_epochs": 1, "reduction_factor": 3},
    }
    response = api.post("/v1/sweeps", json={"base": base, "search": search})
    assert response.status_code == 201, response.text
    sweep = response.json()
    ids = [m["id"] for m in sweep["members"]]
    rows = {job_id: {"epoch": 1, "epochs": 2, "val_top1": top1, "images_per_s": 100.0, "seconds": 10.0}
            for job_id, top1 in zip(ids, (40.0, 60.0, 50.0), strict=True)}  # fmt: skip
    with api.session() as session:
        for job_id in ids:
            assert claim(session, job_id, "w", 60) and record_epoch(session, job_id, rows[job_id], worker="w")
        (decision,) = settle_rungs(session, sweep["id"])  # rung 1 at epoch 1: 3 // 3 = 1 goes on
        assert decision.kept == [ids[1]]
        for job_id in decision.pruned:  # their worker stops them
            assert finish(session, job_id, "pruned", worker="w")
        assert record_epoch(session, ids[1], rows[ids[1]] | {"epoch": 2, "val_top1": 70.0}, worker="w")
        assert finish(session, ids[1], "succeeded", worker="w", result={"val_top1": 70.0, "test_top1": 68.0})

    listed = alice.get("/ui/sweeps").text
    assert "search: 3 trials over beta" in listed
    html = alice.get(f"/ui/sweeps/{sweep['id']}").text
    assert "succeeded" in section(html, "sweep-status") and "2 pruned" in section(html, "sweep-members")
    assert "3 trials (qmc sampler) · images trained 4,000 of the full grid&#39;s 6,000 (0.67×)" in html
    assert "Rung 1 (epoch 1): 1 of 3 went on (lowest kept 60.00%)" in section(html, "search-rule")
    trials = section(html, "search-trials")
    assert trials.count('<span class="badge status-pruned">pruned</span> at rung 1') == 2
    assert f'<tr class="best">\n        <td class="num"><a href="/ui/jobs/{ids[1]}">2</a>' in trials
    assert "β " in trials and "68.00" in trials and "60.00" in trials

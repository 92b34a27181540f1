"""The dashboard at /ui through a test client: sign-in, CSRF, tenant isolation, every page."""

from __future__ import annotations

import hashlib
import json
import re

import click
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sdd_cli.main import cli as sdd_cli
from service.artifact_stores import get_artifact_store
from service.db.models import Job
from tests.api.conftest import Api
from tests.api.ui.job_records import STUDENT_BYTES, add_dataset, play_worker
from tests.fixtures.weights_caches import write_timm_weights
from worker.job_plots import store_curve_plots

CSRF = "csrf_token"
ALL_PAGES = ("/ui", "/ui/jobs/{id}", "/ui/compare?ids={id},{id2}", "/ui/submit")


class Browser:
    """A test client that signs in like a person does: login form, then cookies."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def csrf(self) -> str:
        """The signed CSRF field of the forms this browser would be shown now (read from a page)."""
        page = self.client.get("/ui/login", follow_redirects=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        return found.group(1) if found else ""

    def sign_in(self, token: str) -> httpx.Response:
        return self.client.post("/ui/login", data={"token": token, CSRF: self.csrf}, follow_redirects=False)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form[CSRF] = self.csrf
        return self.client.post(path, data=form, follow_redirects=False)


def browser_for(api: Api, token: str | None, base_url: str = "http://testserver") -> Browser:
    browser = Browser(TestClient(api.client.app, base_url=base_url))
    if token is not None:
        assert browser.sign_in(token).status_code == 303
    return browser


def job_status(api: Api, job_id: str) -> str:
    with api.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


def form_values(html: str) -> dict[str, str]:
    """name -> value of the text inputs of a page."""
    values = {}
    for tag in re.findall(r"<input [^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            values[name.group(1)] = value.group(1) if value else ""
    return values


# ---------------------------------------------------------------- sign-in


def test_every_page_redirects_to_login_without_a_valid_cookie(api: Api) -> None:
    job = api.create_job()
    anonymous = browser_for(api, None)
    for path in ALL_PAGES:
        url = path.format(id=job["id"], id2=job["id"])
        response = anonymous.get(url)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/ui/login?next=/ui"), response.headers["location"]
    for path in ("/ui/jobs.json", f"/ui/jobs/{job['id']}/live", f"/ui/jobs/{job['id']}/curves.svg"):
        assert anonymous.get(path).status_code == 401, path
    anonymous.client.cookies.set("sdd_ui_token", "sdd_not-a-real-token", path="/ui")
    assert anonymous.get("/ui").headers["location"] == "/ui/login?next=/ui"


def test_the_login_hint_is_a_command_the_sdd_cli_takes(api: Api) -> None:
    page = browser_for(api, None).get("/ui/login")
    hint = re.search(r'id="token-hint">(.*?)</p>', page.text, re.S)
    assert hint is not None
    command = re.findall(r"<code>(sdd token [^<]+)</code>", hint.group(1))
    assert command == ["sdd token create --tenant NAME"]
    group = sdd_cli.commands["token"]
    assert isinstance(group, click.Group)
    _, *words = command[0].replace("NAME", "acme").split()
    create = group.commands[words[1]]
    context = create.make_context("create", words[2:])  # parses and checks required options, runs nothing
    assert context.params == {"tenant": "acme"}


def test_login_sets_a_strict_http_only_cookie_and_logout_clears_it(api: Api) -> None:
    browser = browser_for(api, None)
    page = browser.get("/ui/login?next=/ui/submit")
    assert page.status_code == 200 and 'name="token"' in page.text
    assert "content-security-policy" in page.headers

    refused = browser.client.post("/ui/login", data={"token": "sdd_wrong", CSRF: browser.csrf, "next": "/ui"})
    assert refused.status_code == 401 and "not valid" in refused.text
    assert "sdd_ui_token" not in browser.client.cookies

    response = browser.post("/ui/login", {"token": api.token, "next": "/ui/submit"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/submit"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("sdd_ui_token="))
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/ui"} <= attributes
    assert "secure" not in attributes  # plain http here
    listing = browser.get("/ui")
    assert listing.status_code == 200 and "alice" in listing.text

    assert browser.post("/ui/logout").headers["location"] == "/ui/login"
    assert "sdd_ui_token" not in browser.client.cookies
    assert browser.get("/ui").status_code == 303


def test_cookie_is_secure_over_https(api: Api) -> None:
    browser = browser_for(api, None, base_url="https://testserver")
    response = browser.sign_in(api.token)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-sdd_ui_token="))
    assert {"secure", "path=/"} <= {part.strip().lower() for part in cookie.split(";")}


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui", "/v1/jobs", "/ui/login"])
def test_login_only_returns_to_dashboard_pages(api: Api, target: str) -> None:
    browser = browser_for(api, None)
    browser.client.get("/ui/login")
    response = browser.post("/ui/login", {"token": api.token, "next": target})
    assert response.headers["location"] == "/ui"


def test_a_revoked_token_signs_the_dashboard_out(api: Api, alice: Browser) -> None:
    from service.db.models import ApiToken
    from service.tokens import hash_token, revoke_token

    with api.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(api.token)))
        assert row is not None and revoke_token(session, row.id)
        session.commit()
    assert alice.get("/ui").status_code == 303


# ---------------------------------------------------------------- CSRF


def test_posts_without_the_matching_csrf_value_are_refused(api: Api, alice: Browser) -> None:
    job = api.create_job()
    assert alice.post(f"/ui/jobs/{job['id']}/cancel", csrf=False).status_code == 403
    wrong = alice.client.post(f"/ui/jobs/{job['id']}/cancel", data={CSRF: "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403 and "reload the page" in wrong.text
    assert job_status(api, job["id"]) == "queued"
    assert alice.post("/ui/logout", csrf=False).status_code == 403
    assert alice.post("/ui/submit", {"dataset": "digits"}, csrf=False).status_code == 403
    fresh = browser_for(api, None)  # no CSRF cookie at all: a forged cross-site login
    assert fresh.client.post("/ui/login", data={"token": api.token, CSRF: "anything"}).status_code == 403


def test_a_csrf_field_is_bound_to_its_session_and_signed(api: Api, alice: Browser, bob: Browser) -> None:
    """Matching cookie and field are not enough: the field must be signed for this session."""
    job = api.create_job()
    nonce = alice.client.cookies.get("sdd_ui_csrf") or ""
    forged = alice.client.post(f"/ui/jobs/{job['id']}/cancel", data={CSRF: f"{nonce}.{'0' * 64}"})
    assert forged.status_code == 403  # the double-submit pair alone (cookie == field) used to pass
    assert alice.client.post(f"/ui/jobs/{job['id']}/cancel", data={CSRF: nonce}).status_code == 403
    bobs_field = bob.csrf  # signed for bob's session and nonce
    bob_nonce = bobs_field.partition(".")[0]
    alice.client.cookies.set("sdd_ui_csrf", bob_nonce, path="/ui")  # even with bob's nonce planted
    assert alice.client.post(f"/ui/jobs/{job['id']}/cancel", data={CSRF: bobs_field}).status_code == 403
    assert job_status(api, job["id"]) == "queued"


def test_https_cookies_carry_the_host_prefix(api: Api) -> None:
    browser = browser_for(api, api.token, base_url="https://testserver")
    names = set(browser.client.cookies.keys())
    assert {"__Host-sdd_ui_token", "__Host-sdd_ui_csrf"} <= names and "sdd_ui_token" not in names
    assert browser.get("/ui").status_code == 200  # signed in through the prefixed cookie
    job = api.create_job()
    assert browser.post(f"/ui/jobs/{job['id']}/cancel").status_code == 303


# ---------------------------------------------------------------- tenant isolation


def test_no_page_shows_another_tenants_jobs(api: Api, alice: Browser, bob: Browser) -> None:
    secret = "alice-secret-experiment"
    job = api.create_job(metadata={"note": secret})
    other = api.create_job(metadata={"note": secret})
    play_worker(api.settings, job["id"], epochs_done=2, outcome="succeeded")
    ids = {"id": job["id"], "id2": other["id"]}

    for path in ALL_PAGES:
        assert alice.get(path.format(**ids)).status_code == 200, path
    listing = bob.get("/ui")
    assert listing.status_code == 200 and job["id"] not in listing.text and other["id"] not in listing.text
    for path in (
        "/ui/jobs/{id}",
        "/ui/jobs/{id}/live",
        "/ui/jobs/{id}/curves.svg",
        "/ui/jobs/{id}/student",
        "/ui/compare?ids={id},{id2}",
        "/ui/compare/curves.svg?ids={id},{id2}",
    ):
        response = bob.get(path.format(**ids))
        assert response.status_code == 404, path
        assert secret not in response.text and "resnet8" not in response.text, path
    assert bob.get(f"/ui/jobs.json?ids={job['id']}").json() == {"data": []}
    assert bob.post(f"/ui/jobs/{other['id']}/cancel").status_code == 404
    assert job_status(api, other["id"]) == "queued"

    form = bob.get("/ui/submit")
    assert job["id"] not in form.text  # alice's succeeded job is no teacher for bob
    stolen = bob.post(
        "/ui/submit", {"dataset": "digits", "student": "resnet8", "method": "kd", "teacher": f"job:{job['id']}"}
    )
    assert stolen.status_code == 422 and "no job with id" in stolen.text
    with api.session() as session:
        assert session.scalar(select(Job).where(Job.spec["method"].as_string() == "kd")) is None


# ---------------------------------------------------------------- pages


def test_job_list_filter_and_live_json(api: Api, alice: Browser) -> None:
    done, running, queued = (api.create_job(metadata={"n": i}) for i in range(3))
    play_worker(api.settings, done["id"], epochs_done=2, outcome="succeeded")
    play_worker(api.settings, running["id"], epochs_done=1, batch=(12, 57))

    page = alice.get("/ui").text
    rows = {}
    for job, status in ((done, "succeeded"), (running, "running"), (queued, "queued")):
        row = re.search(rf'<tr data-job-id="{job["id"]}".*?</tr>', page, re.S)
        assert row is not None and f'status-{status}">{status}<' in row.group(0)
        rows[status] = row.group(0)
    assert re.search(rf'data-job-id="{running["id"]}".*?50\.00%', page, re.S)  # the running epoch's val top-1
    # The running job's bar counts the batches of its epoch in progress: 1 + 12/57 epochs done.
    epochs = running["progress"]["epochs"]
    assert f'max="{epochs}" value="{1 + 12 / 57}"' in rows["running"]
    assert f'"epoch-text">epoch 1/{epochs}</span><span class="batch-text"> · batch 12/57</span>' in rows["running"]
    for other in ("succeeded", "queued"):
        assert '<span class="batch-text"></span>' in rows[other] and "batch " not in rows[other]
    filtered = alice.get("/ui?status=succeeded").text
    assert done["id"] in filtered and queued["id"] not in filtered
    assert alice.get("/ui?status=bogus").status_code == 422

    live = alice.get(f"/ui/jobs.json?ids={running['id']},{queued['id']}").json()["data"]
    assert [(j["id"], j["status"], j["epoch"], j["batch"], j["batches"], j["terminal"]) for j in live] == [
        (running["id"], "running", 1, 12, 57, False),
        (queued["id"], "queued", 0, None, None, False),
    ]


def test_job_page_shows_result_curves_events_checkpoints_and_download(api: Api, alice: Browser) -> None:
    job = api.create_job(method="ce", hyperparameters={"epochs": 2})
    play_worker(api.settings, job["id"], epochs_done=2, outcome="succeeded")
    page = alice.get(f"/ui/jobs/{job['id']}")
    html = page.text
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert 'status-succeeded">succeeded<' in html and "60.00%" in html
    assert f'src="/ui/jobs/{job["id"]}/curves.svg?epoch=2"' in html
    assert "checkpoint of epoch 2 stored" in html and "training finished" in html  # events
    assert hashlib.sha256(b"ckpt2").hexdigest() in html  # checkpoints table
    assert f'href="/ui/jobs/{job["id"]}/student"' in html and "cancel-button" not in html

    curves = alice.get(f"/ui/jobs/{job['id']}/curves.svg")
    assert curves.status_code == 200 and curves.headers["content-type"].startswith("image/svg+xml")
    assert curves.content.lstrip().startswith(b"<?xml") or b"<svg" in curves.content[:400]
    assert "default-src 'none'" in curves.headers["content-security-policy"]
    assert curves.headers["x-plot-source"] == "live"  # no plot stored for this job: drawn from its metrics

    store = get_artifact_store(api.settings)
    with api.session() as session:  # the worker stores the plot when a job ends; the page then serves it
        stored = {a.kind: a.key for a in store_curve_plots(session, store, job["id"])}
        session.commit()
    curves = alice.get(f"/ui/jobs/{job['id']}/curves.svg")
    assert (
        curves.headers["x-plot-source"] == "stored"
        and "default-src 'none'" in curves.headers["content-security-policy"]
    )
    assert curves.content == store.path(stored["plot_svg"]).read_bytes()

    download = alice.get(f"/ui/jobs/{job['id']}/student")
    assert download.status_code == 200 and download.content == STUDENT_BYTES
    assert download.headers["x-content-sha256"] == hashlib.sha256(STUDENT_BYTES).hexdigest()
    assert "attachment" in download.headers["content-disposition"]

    live = alice.get(f"/ui/jobs/{job['id']}/live")
    assert live.text.lstrip().startswith('<section id="job-live"') and 'data-terminal="true"' in live.text


def test_job_page_shows_how_to_load_each_stored_format(api: Api, alice: Browser) -> None:
    job = api.create_job(method="ce")
    api.succeed_job(job["id"], exports={"onnx": b"onnx bytes"}, result={"num_classes": 10})
    html = alice.get(f"/ui/jobs/{job['id']}").text
    assert 'id="load-student"' in html and 'id="student-torchscript"' not in html  # not stored: not offered
    name = f"{job['id']}-resnet8"
    assert f'href="/ui/jobs/{job["id"]}/student?format=onnx" download>{name}.onnx<' in html
    assert f"onnxruntime.InferenceSession(&#34;{name}.onnx&#34;)" in html
    assert "model = create_model(&#34;resnet8&#34;, 10)" in html and f"load_file(&#34;{name}.safetensors&#34;)" in html
    onnx = alice.get(f"/ui/jobs/{job['id']}/student?format=onnx")
    assert (
        onnx.status_code == 200
        and onnx.content == b"onnx bytes"
        and f"{name}.onnx" in onnx.headers["content-disposition"]
    )
    assert alice.get(f"/ui/jobs/{job['id']}/student?format=torchscript").status_code == 404


def test_running_job_has_cancel_and_no_download(api: Api, alice: Browser) -> None:
    job = api.create_job()
    play_worker(api.settings, job["id"], epochs_done=1, sd=False, batch=(30, 57))
    html = alice.get(f"/ui/jobs/{job['id']}").text
    assert "cancel-button" in html and "download-student" not in html and 'data-terminal="false"' in html
    progress = re.search(r'<span class="progress stacked">.*?</span></span>', html, re.S).group(0)
    # the batch on a line of its own (not drawn over the val top-1 beside it), saying which epoch runs
    assert f'epoch 1/{job["progress"]["epochs"]}</span><span class="batch-text">batch 30/57 of epoch 2<' in progress
    assert ">batch 30/57 of epoch 2<" in alice.get(f"/ui/jobs/{job['id']}/live").text
    assert alice.get(f"/ui/jobs/{job['id']}/student").status_code == 409

    response = alice.post(f"/ui/jobs/{job['id']}/cancel")
    assert response.status_code == 303 and response.headers["location"].endswith("notice=cancelling")
    assert job_status(api, job["id"]) == "cancelling"
    assert "stops at the next batch" in alice.get(response.headers["location"]).text


def test_cancel_a_queued_job(api: Api, alice: Browser) -> None:
    job = api.create_job()
    response = alice.post(f"/ui/jobs/{job['id']}/cancel")
    assert response.headers["location"] == f"/ui/jobs/{job['id']}?notice=cancelled"
    assert job_status(api, job["id"]) == "cancelled"
    again = alice.post(f"/ui/jobs/{job['id']}/cancel")
    assert again.headers["location"].endswith("notice=finished")


def test_resume_a_failed_job_from_its_page(api: Api, alice: Browser) -> None:
    job = api.create_job()
    play_worker(api.settings, job["id"], epochs_done=1, outcome="failed")
    assert 'id="resume-button"' in alice.get(f"/ui/jobs/{job['id']}").text
    response = alice.post(f"/ui/jobs/{job['id']}/resume")
    assert response.headers["location"] == f"/ui/jobs/{job['id']}?notice=resumed"
    assert job_status(api, job["id"]) == "queued"
    page = alice.get(response.headers["location"]).text
    assert "Queued again" in page and 'id="resume-button"' not in page and 'id="cancel-button"' in page
    again = alice.post(f"/ui/jobs/{job['id']}/resume")
    assert again.headers["location"].endswith("notice=not_resumable")


def test_failed_job_shows_its_error(api: Api, alice: Browser) -> None:
    job = api.create_job()
    play_worker(api.settings, job["id"], epochs_done=1, outcome="failed")
    html = alice.get(f"/ui/jobs/{job['id']}").text
    assert "non_finite" in html and "lower the learning rate" in html


def test_metadata_is_escaped(api: Api, alice: Browser) -> None:
    attack = "<script>alert('x')</script>"
    job = api.create_job(metadata={"note": attack, attack: 1})
    for path in (f"/ui/jobs/{job['id']}", "/ui"):
        html = alice.get(path).text
        assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in alice.get(f"/ui/jobs/{job['id']}").text


def test_compare_page(api: Api, alice: Browser) -> None:
    first = api.create_job(hyperparameters={"epochs": 2})
    second = api.create_job(seed=7, hyperparameters={"epochs": 2})
    play_worker(api.settings, first["id"], epochs_done=2, outcome="succeeded")
    play_worker(api.settings, second["id"], epochs_done=1)

    for query in (f"ids={first['id']},{second['id']}", f"ids={first['id']}&ids={second['id']}"):
        page = alice.get(f"/ui/compare?{query}")
        assert page.status_code == 200
        html = page.text
        assert html.index(first["id"]) < html.index(second["id"])
        assert "60.00%" in html and "50.00%" in html  # final val top-1 of each
        assert re.search(r'class="differs">\s*<th scope="row">seed', html)
        assert "/ui/compare/curves.svg?ids=" in html
    curves = alice.get(f"/ui/compare/curves.svg?ids={first['id']},{second['id']}")
    assert curves.status_code == 200 and curves.headers["content-type"].startswith("image/svg+xml")
    assert first["id"].encode() in curves.content and second["id"].encode() in curves.content

    too_few = alice.get(f"/ui/compare?ids={first['id']}")
    assert too_few.status_code == 422 and "at least two" in too_few.text
    assert alice.get(f"/ui/compare?ids={first['id']},job_missing").status_code == 404


def test_job_page_shows_the_final_evaluation_per_class_confusion_and_agreement(api: Api, alice: Browser) -> None:
    job = api.create_job(method="ce")
    api.succeed_job(
        job["id"],
        result={
            "per_class": {"correct": [3, 1], "total": [4, 2], "classes": ["cat", "dog"]},
            "confusion": [[3, 1], [1, 1]],
            "agreement_top1": 87.5,
        },
    )
    html = alice.get(f"/ui/jobs/{job['id']}").text
    assert 'id="final-evaluation"' in html and "<strong>87.5%</strong> of the validation images" in html
    per_class = re.search(r'<table class="per-class".*?</table>', html, re.S).group(0)
    assert re.findall(
        r'<th scope="row">(\w+)</th><td class="num">([\d.]+%)</td><td class="num">(\d+ / \d+)</td>', per_class
    ) == [
        ("cat", "75.00%", "3 / 4"),
        ("dog", "50.00%", "1 / 2"),
    ]
    confusion = re.search(r'<table class="confusion".*?</table>', html, re.S).group(0)
    assert re.findall(r'<td class="num( diagonal)?">(\d+)</td>', confusion) == [
        (" diagonal", "3"), ("", "1"), ("", "1"), (" diagonal", "1"),
    ]  # fmt: skip

    running = api.create_job(method="ce")  # nothing to show before the job succeeded
    assert 'id="final-evaluation"' not in alice.get(f"/ui/jobs/{running['id']}").text


def test_names_and_tags_label_rows_headers_and_legends(api: Api, alice: Browser) -> None:
    named = api.create_job(name="baseline <b>", tags=["digits", "lr"], hyperparameters={"epochs": 2})
    plain = api.create_job(seed=7, tags=["lr"], hyperparameters={"epochs": 2})
    other = api.create_job(seed=8)
    for job in (named, plain):
        play_worker(api.settings, job["id"], epochs_done=1)

    html = alice.get("/ui").text
    assert (
        f'<a href="/ui/jobs/{named["id"]}" title="{named["id"]}"><span class="job-name">baseline &lt;b&gt;</span></a>'
        in html
    )
    assert f'<code class="job-id">{plain["id"]}</code></a>' in html  # no name: shown by its id
    assert '<a class="tag" href="/ui?tag=digits">digits</a>' in html
    tagged = alice.get("/ui?tag=lr").text
    assert named["id"] in tagged and plain["id"] in tagged and other["id"] not in tagged
    assert 'id="tag-filter"' in tagged and 'name="tag" value="lr"' in tagged

    page = alice.get(f"/ui/jobs/{named['id']}").text
    assert "<h1>baseline &lt;b&gt;</h1>" in page and f"Job <code>{named['id']}</code>" in page

    compare = alice.get(f"/ui/compare?ids={named['id']},{plain['id']}").text
    assert f'title="{named["id"]}">baseline &lt;b&gt;</a></th>' in compare
    curves = alice.get(f"/ui/compare/curves.svg?ids={named['id']},{plain['id']}")
    assert b"baseline &lt;b&gt;" in curves.content and plain["id"].encode() in curves.content  # legends


def test_compare_shows_a_dash_for_sd_fields_of_non_sd_jobs(api: Api, alice: Browser) -> None:
    teacher = api.create_job(hyperparameters={"epochs": 1})
    api.succeed_job(teacher["id"])
    sd = api.create_job(method="sd-kd", teacher={"job": teacher["id"]}, scales=[1, 2], beta=3.0)
    kd = api.create_job(method="kd", teacher={"job": teacher["id"]})
    html = alice.get(f"/ui/compare?ids={sd['id']},{kd['id']}").text
    scales_row = re.search(r'<th scope="row">scales.*?</tr>', html, re.S).group(0)
    beta_row = re.search(r'<th scope="row">beta.*?</tr>', html, re.S).group(0)
    assert re.findall(r"<td>(.*?)</td>", beta_row) == ["3", "—"], beta_row
    assert re.findall(r"<td>(.*?)</td>", scales_row)[1] == "—", scales_row


# ---------------------------------------------------------------- submit


def test_submit_form_offers_the_catalog_and_this_tenants_things(api: Api, alice: Browser) -> None:
    teacher = api.create_job()
    play_worker(api.settings, teacher["id"], epochs_done=1, outcome="succeeded")
    mine = add_dataset(api, api.token, "my-flowers")
    theirs = add_dataset(api, api.other_token, "bobs-birds")

    html = alice.get("/ui/submit").text
    for expected in (
        'value="digits"',
        'value="cifar100"',
        f'value="{mine}"',
        'value="resnet8"',
        'value="tv/resnet18"',
        'value="sd-dkd"',
        f'value="job:{teacher["id"]}"',
    ):
        assert expected in html, expected
    assert theirs not in html and "bobs-birds" not in html
    defaults = json.loads(re.search(r'id="method-defaults">(.*?)</script>', html, re.S).group(1))
    assert defaults["kd"]["hyperparameters.ce_weight"] == "0.1"
    assert defaults["dkd"]["hyperparameters.warmup_epochs"] == "20"
    values = form_values(html)
    assert values["hyperparameters.epochs"] == "240" and values["scales"] == "1, 2, 4"


def _form(alice: Browser, **changes: str) -> dict[str, str]:
    """The submit form as first shown, with ``changes`` typed in."""
    values = form_values(alice.get("/ui/submit").text)
    values.pop(CSRF)
    selects = {
        "dataset": "digits",
        "student": "resnet8",
        "method": "ce",
        "teacher": "",
        "metadata": "",
        "hyperparameters.nkd_mode": "paper",
        "hyperparameters.precision": "fp32",
        "hyperparameters.channels_last": "false",
    }
    return values | selects | changes


def test_submit_shows_validation_errors_next_to_fields_and_keeps_input(api: Api, alice: Browser) -> None:
    typed = {"hyperparameters.epochs": "abc", "hyperparameters.lr": "-1"}
    response = alice.post("/ui/submit", _form(alice, beta="-1", seed="12", **typed))
    assert response.status_code == 422
    html = response.text
    assert 'id="form-errors"' in html
    assert re.search(r'id="f-beta-error">beta: [^<]*greater than or equal to 0', html)
    assert 'id="f-hyperparameters-epochs-error"' in html and 'id="f-hyperparameters-lr-error"' in html
    assert '<details class="card" id="hyperparameters" open>' in html  # opened to show the lr error
    kept = form_values(html)
    assert kept["beta"] == "-1" and kept["seed"] == "12" and kept["hyperparameters.epochs"] == "abc"

    no_teacher = alice.post("/ui/submit", _form(alice, method="kd")).text
    assert re.search(r'id="f-teacher-error">teacher: [^<]*name one', no_teacher)
    limits = alice.post("/ui/submit", _form(alice, **{"hyperparameters.epochs": "100000"})).text
    assert re.search(r'id="f-hyperparameters-epochs-error">[^<]*limit', limits)
    with api.session() as session:
        assert session.scalars(select(Job)).all() == []


def test_submit_creates_the_job_through_the_api_path(api: Api, alice: Browser) -> None:
    form = _form(alice, student="mobilenetv2", metadata='{"from": "dashboard"}', **{"hyperparameters.epochs": "1"})
    response = alice.post("/ui/submit", form)
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].removeprefix("/ui/jobs/")
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "queued" and job["metadata"] == {"from": "dashboard"}
    hyper = job["spec"]["hyperparameters"]
    assert hyper["epochs"] == 1
    assert hyper["lr"] == 0.01  # left as pre-filled: the pair's default (0.01 for MobileNet students)
    assert alice.get(response.headers["location"]).status_code == 200

    replay = alice.post("/ui/submit", form)  # the same form sent twice (double click, reload)
    assert replay.headers["location"] == response.headers["location"]


def test_a_form_field_that_is_not_storable_text_is_refused(api: Api, alice: Browser) -> None:
    response = alice.post("/ui/submit", {"dataset": "digits", "metadata": '{"note": "a\x00b"}'})
    assert response.status_code == 422 and "NUL" in response.text
    assert api.get("/v1/jobs").json()["data"] == []


def test_job_page_shows_where_the_weights_came_from_and_dashes_sd_fields(
    api: Api, alice: Browser, weights_caches
) -> None:
    write_timm_weights(weights_caches.hf_hub, "timm/test_resnet")
    pretrained = api.create_job(student="timm/test_resnet", init="pretrained", image_size=32)
    api.succeed_job(pretrained["id"])
    warm = api.create_job(student="timm/test_resnet", init={"job": pretrained["id"]}, image_size=32, method="kd",
                          teacher={"job": pretrained["id"]})  # fmt: skip

    page = alice.get(f"/ui/jobs/{pretrained['id']}").text
    assert '<dd id="student-init">its architecture&#39;s pretrained weights</dd>' in page
    spec = re.search(r'<dl class="facts card">.*?</dl>', page, re.S).group(0)
    assert "<dt>Scales</dt><dd>—</dd>" in spec and "<dt>Beta</dt><dd>—</dd>" in spec  # a ce job
    page = alice.get(f"/ui/jobs/{warm['id']}").text
    assert f'warm start from job <a href="/ui/jobs/{pretrained["id"]}">' in page

    compare = alice.get(f"/ui/compare?ids={pretrained['id']},{warm['id']}").text
    init_row = re.search(r'<th scope="row">init.*?</tr>', compare, re.S).group(0)
    assert "pretrained weights" in init_row and f"warm start from job {pretrained['id']}" in init_row


def test_the_form_submits_pretrained_weights_and_warm_starts(api: Api, alice: Browser, weights_caches) -> None:
    write_timm_weights(weights_caches.hf_hub, "timm/test_resnet")
    html = alice.get("/ui/submit").text
    assert 'value="pretrained:timm/test_resnet.r160_in1k"' in html and 'value="timm/test_resnet.r160_in1k"' in html
    assert '<option value="scratch" selected>' in html

    response = alice.post(
        "/ui/submit", _form(alice, student="timm/test_resnet.r160_in1k", init="pretrained", image_size="32")
    )
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].rsplit("/", 1)[-1]
    assert api.get(f"/v1/jobs/{job_id}").json()["spec"]["init"] == "pretrained"

    refused = alice.post("/ui/submit", _form(alice, init="pretrained"))  # resnet8 has no pretrained weights
    assert refused.status_code == 422
    assert re.search(r'id="f-init-error">resnet8 has no pretrained weights', refused.text)


def test_job_page_names_its_protocol_its_test_top1_and_why_it_was_pruned(api: Api, alice: Browser) -> None:
    from sqlalchemy import update

    from service.db.models import Job

    job = api.create_job(protocol="held_out")
    api.succeed_job(job["id"], result={"val_top1": 91.0, "test_top1": 89.25})
    html = alice.get(f"/ui/jobs/{job['id']}").text
    assert "89.25" in html and 'id="test-top1"' in html
    assert "held_out (10% of each class held out to choose; the dataset&#39;s val split tests, once)" in html
    old = api.create_job(protocol="literature")
    with api.session() as session:  # a trial its search's rung pruned
        reason = "pruned at rung 1 (epoch 1): val top-1 40.00% was not among the best 1 of 3"
        session.execute(update(Job).where(Job.id == old["id"]).values(status="pruned", prune_reason=reason))
        session.commit()
    html = alice.get(f"/ui/jobs/{old['id']}").text
    assert "literature (the val split chooses and reports" in html
    assert f"Pruned: {reason}." in html and '<span class="badge status-pruned">pruned</span>' in html

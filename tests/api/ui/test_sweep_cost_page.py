"""The dashboard's sweep page: accuracy against cost, the ``within`` question and the cost plot."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_sweep_cost import student_sweep
from tests.api.ui.test_pages import Browser


def test_the_sweep_page_answers_within_and_shows_the_cost(api: Api, alice: Browser, bob: Browser) -> None:
    sweep = student_sweep(api)
    plain = alice.get(f"/ui/sweeps/{sweep['id']}").text
    assert 'id="within-form"' in plain and 'id="cost-table"' in plain and 'id="within-answer"' not in plain
    assert f'src="/ui/sweeps/{sweep["id"]}/cost.svg?done=8"' in plain

    page = alice.get(f"/ui/sweeps/{sweep['id']}?within=1")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<strong>Within 1 point of the teacher:</strong> kd, resnet14: 1.000 ms per image on the CPU" in html
    assert '<th scope="row">kd, resnet8</th>' in html and "<td>latency, size</td>" in html
    assert f'data-live-url="/ui/sweeps/{sweep["id"]}/live?within=1"' in html
    assert f'src="/ui/sweeps/{sweep["id"]}/cost.svg?done=8&amp;within=1"' in html
    assert 'name="within" min="0" max="100" step="0.1" value="1"' in html
    live = alice.get(f"/ui/sweeps/{sweep['id']}/live?within=1").text
    assert 'id="within-answer"' in live

    svg = alice.get(f"/ui/sweeps/{sweep['id']}/cost.svg?done=8&within=1")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["content-security-policy"].startswith("default-src 'none'")
    assert b"Top-1 against size" in svg.content and b"which student: accuracy against cost" in svg.content
    assert bob.get(f"/ui/sweeps/{sweep['id']}/cost.svg").status_code == 404

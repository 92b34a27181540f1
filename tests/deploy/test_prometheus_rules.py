"""deploy/prometheus: the alert rules and scrape config are valid and the alerts fire when they should.

``promtool`` (Debian's ``prometheus`` package, installed by scripts/test.sh) checks the files and
runs ``alerts_test.yml``: series played minute by minute against the rules, the alerts expected
(and those expected silent) at given times. The dashboard's queries are run against a real
Prometheus in tests/e2e/test_prometheus.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> str:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    done = subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_alert_rules_are_valid_and_their_unit_tests_pass() -> None:
    assert "SUCCESS: 6 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")
    assert "valid prometheus config" in promtool("check", "config", "prometheus.yml")


def test_every_alert_is_unit_tested_and_documented() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    tested = (DEPLOY / "prometheus" / "alerts_test.yml").read_text()
    for rule in rules:
        assert f"alertname: {rule['alert']}" in tested, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_dashboard_names_only_series_the_service_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "sdd-jobs.json").read_text())
    exported: set[str] = set()
    for module in ("api/metrics.py", "worker/metrics.py"):
        exported |= set(re.findall(r'"(sdd_[a-z_]+)"', (DEPLOY.parent / module).read_text()))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names = {word for word in _words(target["expr"]) if word.startswith("sdd_")}
            base = {name.removesuffix("_total").removesuffix("_bucket") for name in names}
            assert base <= exported, (panel["title"], base)


def _words(expr: str) -> list[str]:
    for separator in "(){}[],=~!\"' ":
        expr = expr.replace(separator, " ")
    return expr.split()

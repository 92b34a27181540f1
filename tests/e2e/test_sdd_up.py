"""``sdd up``, the embedded all-in-one: it serves and trains (the README's Python snippet included)
on the loader path with loader worker processes (the path every large-image job takes on a GPU
node), restarts its API when the API dies while the worker goes on, and Ctrl-C stops it and its
children."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.service_processes import (
    JOB_TIMEOUT_S,
    READY_TIMEOUT_S,
    REPO_ROOT,
    ServiceProcess,
    create_tokens,
    run_sdd,
    sdd_command,
    service_environment,
    tiny_job,
    wait_for_job,
    wait_until_ready,
)
from tests.fixtures.servers import free_port

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.slow

EXIT_WITHIN_S = 60.0
MIGRATED = re.compile(r"database at revision \S+; starting API")


def processes_with_home(home: Path) -> list[psutil.Process]:
    """Live processes whose environment has ``SDD_HOME=<home>`` (the home is unique to the test)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SDD_HOME") == str(home) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def command_line(process: psutil.Process) -> str:
    """The process's command line; empty for one that exited (pool processes come and go)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return ""


def readme_python_snippet() -> str:
    """The README's "From Python" block, as a reader copies it."""
    readme = (REPO_ROOT / "README.md").read_text()
    found = re.search(r"\*\*From Python\*\*.*?```python\n(.*?)```", readme, re.S)
    assert found is not None, "README.md has no Python block after **From Python**"
    return found.group(1)


def _run_the_readmes_python_snippet(env: dict[str, str], url: str, token: str, tmp_path: Path) -> None:
    """After `sdd login` (its config file only: no URL or token in the environment), the README's
    snippet runs as written; its 10-epoch jobs shortened to one epoch each."""
    snippet = readme_python_snippet()
    assert snippet.count('"epochs": 10') == 2, snippet
    config = tmp_path / "config" / "sdd.json"
    client_env = env | {"SDD_CONFIG": str(config)}
    run_sdd(client_env, "login", "--url", url, "--token", token)
    workdir = tmp_path / "notebook"
    workdir.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", snippet.replace('"epochs": 10', '"epochs": 1')],
        cwd=workdir,
        env=client_env,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S * 2,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^epoch 1: [\d.]+%$", done.stdout, re.M), done.stdout
    assert (workdir / "student.safetensors").stat().st_size > 0 and (workdir / "student.onnx").stat().st_size > 0


def _child_named(up: ServiceProcess, name: str) -> psutil.Process:
    children = [child for child in psutil.Process(up.pid).children() if f" {name} " in f"{command_line(child)} "]
    assert len(children) == 1, [command_line(child) for child in psutil.Process(up.pid).children()]
    return children[0]


def test_sdd_up_serves_a_job_and_stops_on_sigint(tmp_path: Path) -> None:
    home = tmp_path / "sdd_home"
    env = service_environment(home) | {"SDD_DEVICE_DATA_MAX_BYTES": "0"}  # digits on the loader path
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    up = ServiceProcess.start(
        "sdd up",
        sdd_command("up", "--host", "127.0.0.1", "--port", str(port)),
        env,
        tmp_path / "up.log",
        new_session=True,
    )
    children: list[psutil.Process] = []
    try:
        up.wait_for_log(MIGRATED, READY_TIMEOUT_S)
        token = create_tokens(env, ["t1"])["t1"]  # while `sdd up` starts API and worker
        wait_until_ready(url, [up])
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
            response = client.post("/v1/jobs", json=tiny_job(hyperparameters={"loader_workers": 2}))
            assert response.status_code == 201, response.text
            job_id = response.json()["id"]
            wait_for_job(client, job_id, {"succeeded"}, processes=[up])
            epochs = client.get(f"/v1/jobs/{job_id}/metrics").json()["data"]
            assert [epoch["data_path"] for epoch in epochs] == ["loader"], epochs

        worker, api = _child_named(up, "worker"), _child_named(up, "api")
        api.kill()  # the API dies (the OOM killer, a bug): `sdd up` says so and restarts it alone
        up.wait_for_log(re.compile(rf"sdd up: api \(pid {api.pid}\) exited with code -9 .*restarting it"), 30)
        wait_until_ready(url, [up])
        assert worker.is_running() and _child_named(up, "worker").pid == worker.pid
        _run_the_readmes_python_snippet(env, url, token, tmp_path)

        children = psutil.Process(up.pid).children(recursive=True)
        commands = [command_line(child) for child in children]
        assert any(" api " in f"{c} " for c in commands) and any(" worker " in f"{c} " for c in commands), commands

        up.signal(signal.SIGINT)  # to `sdd up` alone, as a supervisor would: it must stop its children
        try:
            code = up.process.wait(timeout=EXIT_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`sdd up` still running {EXIT_WITHIN_S:.0f}s after SIGINT\n{up.log_tail()}")
        assert code == 0, up.log_tail()
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == [], f"children left running: {alive}\n{up.log_tail()}"
        assert processes_with_home(home) == []
    finally:
        if up.alive():
            os.killpg(up.pid, signal.SIGKILL)
            up.process.wait()
        for process in [*children, *processes_with_home(home)]:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass

"""End-to-end demo of the service on the embedded default, through its REST API only.

    python examples/distill_digits.py [--epochs 10] [--out demo-output] [--keep-running]

1. starts ``sdd up`` (API + one Celery worker, SQLite, file broker, local artifacts) on a free
   port, its output going to ``$SDD_HOME/logs/demo-service-<time>.log`` (``SDD_HOME`` defaults
   to ``~/.sdd``), unless ``--url`` and ``--token`` point at a running service;
2. trains a teacher (resnet32, plain CE) on the ``digits`` set;
3. distils two resnet8 students from it, one with SD-KD and one with plain KD, same seed;
4. downloads the SD-KD student, checks its SHA-256, and prints the comparison;
5. says where the dashboard is: with ``--keep-running`` the service stays up after a successful
   run, and the demo prints the dashboard's address, the token to sign in with and how to stop it.

Progress is one live bar per job on a terminal, and one line per finished epoch otherwise (a
pipe, a CI log).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

TERMINAL = {"succeeded", "failed", "cancelled"}
STATUS_STYLES = {"queued": "dim", "running": "cyan", "succeeded": "green", "failed": "red", "cancelled": "yellow"}
NO_FIELDS = {"epoch": 0, "epochs": "?", "status": "", "summary": ""}  # a bar before its job's first poll
LABEL_WIDTH = len("student resnet8 (SD-KD)")
LOG_TAIL_LINES = 20
STOP_TIMEOUT_S = 60.0


def sdd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sdd_cli", *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_log_path() -> Path:
    """``$SDD_HOME/logs/demo-service-<time>.log``, its folder created; the same home ``sdd up`` uses."""
    logs = Path(os.environ.get("SDD_HOME", "~/.sdd")).expanduser() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"demo-service-{time.strftime('%Y%m%d-%H%M%S')}.log"


@dataclass
class Service:
    """``sdd up`` started by the demo: the leader of its own process group, writing to ``log``."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @classmethod
    def start(cls, port: int) -> Service:
        log = new_log_path()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # log lines reach the file as they happen
        with log.open("wb") as out:
            process = subprocess.Popen(
                sdd("up", "--host", "127.0.0.1", "--port", str(port)),
                stdin=subprocess.DEVNULL,  # it may outlive the demo (--keep-running) and its terminal
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return cls(process, f"http://127.0.0.1:{port}", log)

    def exited(self) -> bool:
        return self.process.poll() is not None

    def failure(self, what: str) -> str:
        """``what``, then the last lines of the service's log: why it went wrong, usually."""
        lines = self.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return f"{what}; the last lines of {self.log}:\n" + "\n".join(f"  | {line}" for line in lines)

    def stop(self) -> None:
        """SIGTERM the group (``sdd up`` stops its API and worker), SIGKILL it if it lingers."""
        if self.exited():
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wait_ready(url: str, service: Service | None, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None and service.exited():
            sys.exit(service.failure(f"the service exited early with code {service.process.returncode}"))
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    what = f"the service at {url} was not ready after {timeout:.0f}s"
    sys.exit(service.failure(what) if service is not None else what)


def create_token() -> str:
    """``sdd token create`` prints the token as its last stdout line."""
    done = subprocess.run(sdd("token", "create", "--tenant", "demo"), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"sdd token create failed with code {done.returncode}:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def submit(client: httpx.Client, console: Console, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/jobs", json=body)
    if response.status_code != 201:
        sys.exit(f"job refused ({response.status_code}): {response.text}")
    job = response.json()
    console.print(f"submitted {job['id']}: {body['method']} {body['student']} on {body['dataset']}")
    return job


def label(role: str, job: dict[str, Any]) -> str:
    """``teacher resnet32 (CE)``, ``student resnet8 (SD-KD)``: how the bars and the table name a job."""
    return f"{role} {job['spec']['student']} ({job['spec']['method'].upper()})"


def epoch_summary(row: dict[str, Any]) -> str:
    return f"val top-1 {row['val_top1']:6.2f}%  loss {row['train_loss']:.3f}"


def epoch_line(text: str, row: dict[str, Any]) -> str:
    """A finished epoch as one plain line, for an output that is not a terminal."""
    return f"  {text:<{LABEL_WIDTH}}  epoch {row['epoch']}/{row['epochs']}  {epoch_summary(row)}"


def progress_bars(console: Console) -> Progress:
    """One bar per job; drawn only on a terminal (``wait`` prints plain lines elsewhere)."""
    return Progress(
        TextColumn(f"{{task.description:<{LABEL_WIDTH}}}"),
        BarColumn(bar_width=24),
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        TextColumn("{task.fields[status]}"),
        TextColumn("{task.fields[summary]}"),
        console=console,
        disable=not console.is_terminal,
    )


def show(progress: Progress, task: TaskID, job: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Move a job's bar: finished epochs plus the running epoch's share of batches done."""
    done = job["progress"]
    batch, batches = done.get("batch"), done.get("batches")
    fraction = batch / batches if job["status"] == "running" and batch is not None and batches else 0.0
    style = STATUS_STYLES.get(job["status"], "")
    progress.update(
        task,
        total=max(done["epochs"], 1),
        completed=done["epoch"] + fraction,
        epoch=done["epoch"],
        epochs=done["epochs"],
        status=f"[{style}]{job['status']}[/{style}]" if style else job["status"],
        summary=epoch_summary(rows[-1]) if rows else "",
    )


def new_rows(client: httpx.Client, job: dict[str, Any], known: int) -> list[dict[str, Any]]:
    """The job's epoch rows after the first ``known`` (none asked for while no new epoch ended)."""
    if job["progress"]["epoch"] <= known:
        return []
    return client.get(f"/v1/jobs/{job['id']}/metrics").raise_for_status().json()["data"][known:]


def wait(client: httpx.Client, console: Console, labels: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Poll until every job (id -> label) is terminal: live bars on a terminal, else a line per finished epoch."""
    rows: dict[str, list[dict[str, Any]]] = {job_id: [] for job_id in labels}
    jobs: dict[str, dict[str, Any]] = {}
    with progress_bars(console) as progress:
        tasks = {job_id: progress.add_task(text, **NO_FIELDS) for job_id, text in labels.items()}
        while True:
            for job_id, text in labels.items():
                job = jobs[job_id] = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
                for row in new_rows(client, job, len(rows[job_id])):
                    if progress.disable:
                        console.print(epoch_line(text, row))
                    rows[job_id].append(row)
                show(progress, tasks[job_id], job, rows[job_id])
            if all(job["status"] in TERMINAL for job in jobs.values()):
                return jobs
            time.sleep(1.0)


def require_success(job: dict[str, Any]) -> None:
    if job["status"] != "succeeded":
        error = job.get("error") or {}
        sys.exit(f"job {job['id']} ended {job['status']}: [{error.get('code')}] {error.get('message')}")


def train_teacher(client: httpx.Client, console: Console, schedule: dict[str, Any]) -> dict[str, Any]:
    console.print("\n== 1. teacher: resnet32 trained with cross-entropy")
    body = {
        "dataset": "digits",
        "student": "resnet32",
        "method": "ce",
        "seed": 0,
        "hyperparameters": schedule,
        "metadata": {"demo": "teacher"},
    }
    job = submit(client, console, body)
    teacher = wait(client, console, {job["id"]: label("teacher", job)})[job["id"]]
    require_success(teacher)
    return teacher


def train_students(
    client: httpx.Client, console: Console, teacher: dict[str, Any], schedule: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The SD-KD and the KD student, trained side by side; returns them by method."""
    console.print("\n== 2. students: resnet8 distilled with SD-KD and with KD (same seed and schedule)")
    submitted = {
        method: submit(
            client,
            console,
            {
                "dataset": "digits",
                "student": "resnet8",
                "method": method,  # sd-kd with the paper's scales [1, 2, 4] and beta 2; kd takes neither
                "seed": 1,
                "teacher": {"job": teacher["id"]},
                "hyperparameters": schedule,
                "metadata": {"demo": method},
            },
        )
        for method in ("sd-kd", "kd")
    }
    finished = wait(client, console, {job["id"]: label("student", job) for job in submitted.values()})
    students = {method: finished[job["id"]] for method, job in submitted.items()}
    for job in students.values():
        require_success(job)
    return students


def download_student(client: httpx.Client, console: Console, job: dict[str, Any], out_dir: Path) -> None:
    """The student's weights (SHA-256 checked) and its model card, into ``out_dir``."""
    console.print("\n== 3. download the SD-KD student")
    response = client.get(f"/v1/jobs/{job['id']}/student").raise_for_status()
    digest = hashlib.sha256(response.content).hexdigest()
    if digest != response.headers["X-Content-SHA256"]:
        sys.exit("downloaded student does not match its SHA-256")
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{job['id']}-resnet8.safetensors"
    weights.write_bytes(response.content)
    card = client.get(f"/v1/jobs/{job['id']}/student/card").raise_for_status().json()
    (out_dir / f"{job['id']}-card.json").write_text(json.dumps(card, indent=2))
    console.print(f"saved {weights} ({len(response.content)} bytes, sha256 {digest[:16]}…, verified)")


def results_table(teacher: dict[str, Any], students: dict[str, dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("model")
    table.add_column("final", justify="right")
    table.add_column("best", justify="right")
    for role, job in (("teacher", teacher), ("student", students["kd"]), ("student", students["sd-kd"])):
        table.add_row(label(role, job), f"{job['result']['val_top1']:.2f}", f"{job['result']['best_val_top1']:.2f}")
    return table


def run(console: Console, url: str, token: str, epochs: int, out_dir: Path) -> None:
    schedule = {"epochs": epochs, "lr": 0.1, "batch_size": 64, "lr_decay_epochs": [max(1, epochs * 3 // 4)]}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as client:
        teacher = train_teacher(client, console, schedule)
        students = train_students(client, console, teacher, schedule)
        download_student(client, console, students["sd-kd"], out_dir)
    console.print("\n== results on the digits validation split (top-1 %)")
    console.print(results_table(teacher, students))


def dashboard_hint(url: str, which_token: str) -> str:
    return f"\ndashboard: {url}/ui/ (sign in at {url}/ui/login with {which_token})"


def show_kept_service(console: Console, service: Service, token: str) -> None:
    console.print(dashboard_hint(service.url, "the token below"))
    console.print(f"token (tenant demo): {token}")
    console.print(f"the service stays up (logs: {service.log}); stop it with: kill {service.process.pid}")


def run_with_own_service(console: Console, args: argparse.Namespace) -> None:
    """Start ``sdd up``, run the demo, then stop it, or leave it up with ``--keep-running``."""
    service = Service.start(free_port())
    console.print(f"starting the service on {service.url}")
    console.print(f"service logs: {service.log}")
    try:
        wait_ready(service.url, service)
        token = create_token()
        run(console, service.url, token, args.epochs, args.out)
    except BaseException as error:  # a failure or Ctrl-C: the service goes with the demo
        service.stop()
        if isinstance(error, httpx.TransportError):
            sys.exit(service.failure(f"lost the service ({error})"))
        raise
    if args.keep_running:
        show_kept_service(console, service, token)
        return
    service.stop()
    console.print("\nthe service was stopped; --keep-running leaves it up to browse the results in its dashboard")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--url", help="A running service (default: start one here).")
    parser.add_argument("--token", help="Bearer token for --url.")
    parser.add_argument(
        "--keep-running", action="store_true", help="Leave the started service up after a successful run."
    )
    args = parser.parse_args()
    console = Console(markup=False, soft_wrap=True)  # lines as written, even in an 80-column pipe

    if not args.url:
        run_with_own_service(console, args)
        return
    if not args.token:
        sys.exit("--url needs --token")
    wait_ready(args.url, None)
    run(console, args.url, args.token, args.epochs, args.out)
    console.print(dashboard_hint(args.url, "your token"))


if __name__ == "__main__":
    main()

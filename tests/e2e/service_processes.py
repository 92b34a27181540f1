"""sdd-jobs as real processes, for end-to-end tests: ``sdd migrate``, then ``sdd api`` and ``sdd worker``.

Plain helpers with no pytest in them (plus a few HTTP shortcuts the tests share); failures raise
``ServiceError`` carrying the tail of the logs of the processes involved, so a failing test says
what the service did::

    with running_service(tmp_dir) as service:            # embedded: SQLite + file broker
        with service.client("t1") as client:
            job = client.post("/v1/jobs", json=tiny_job()).json()
            service.wait_for_job(client, job["id"], {"succeeded"})

Every process gets the environment of this one with every ``SDD_*`` variable replaced by the
service's own (``SDD_HOME`` in the given folder, plus database and broker URLs when given), and
one OpenMP thread unless ``OMP_NUM_THREADS`` is set.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from service.settings import Settings
from tests.fixtures.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TENANTS = ("t1", "t2")
CLI_TIMEOUT_S = 120.0  # one `sdd` command (imports torch: several seconds on a busy machine)
READY_TIMEOUT_S = 120.0  # API answering /readyz and worker consuming, both started together
STOP_TIMEOUT_S = 30.0  # SIGTERM to exit, before SIGKILL
JOB_TIMEOUT_S = 180.0
LOG_TAIL_LINES = 40
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "pruned"})
WORKER_READY = re.compile(r"celery@\S+ ready\.")  # Celery's own line once the consumer runs
# uvicorn's access lines of successful requests (text or JSON lines): polls drown the rest
SUCCESSFUL_REQUEST = re.compile(r'uvicorn\.access.*\S+ - \\?".*\\?" [23]\d\d\b')


class ServiceError(AssertionError):
    """The service did not do what a test waited for; the message carries the relevant log tails."""


def sdd_command(*args: str) -> list[str]:
    """The ``sdd`` command line run with this interpreter (the tests' virtualenv)."""
    return [sys.executable, "-m", "sdd_cli", *args]


def service_environment(home: Path, database_url: str | None = None, broker_url: str | None = None) -> dict[str, str]:
    """This process's environment without any ``SDD_*`` variable, plus the service's own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SDD_")}
    env["SDD_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the log files as they happen
    # One intra-op thread: on a small shared machine (pytest, API and worker on 2 cores) torch's
    # spinning OpenMP threads make a 1 s training take 15 s.
    env.setdefault("OMP_NUM_THREADS", "1")
    if database_url is not None:
        env["SDD_DATABASE_URL"] = database_url
    if broker_url is not None:
        env["SDD_BROKER_URL"] = broker_url
    return env


def tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, leaving out successful requests."""
    kept = [line for line in text.splitlines() if not SUCCESSFUL_REQUEST.search(line)]
    return "\n".join(kept[-lines:])


# --------------------------------------------------------------------------- one process


class ServiceProcess:
    """A child process whose stdout and stderr go to one log file."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path, new_session: bool = False) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path
        self.new_session = new_session  # the leader of a process group of its own

    @classmethod
    def start(
        cls, name: str, args: list[str], env: dict[str, str], log_path: Path, new_session: bool = False
    ) -> ServiceProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                args,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=new_session,
            )
        return cls(name, process, log_path, new_session)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        state = "running" if self.alive() else f"exited with code {self.process.returncode}"
        return f"----- {self.name} (pid {self.pid}, {state}), last lines of {self.log_path}:\n{tail(self.log(), lines)}"

    def wait_for_log(self, pattern: re.Pattern[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not pattern.search(self.log()):
            if not self.alive():
                raise ServiceError(f"{self.name} exited before logging {pattern.pattern!r}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServiceError(f"{self.name} did not log {pattern.pattern!r} in {timeout:.0f}s\n{self.log_tail()}")
            time.sleep(0.2)

    def signal(self, signum: int) -> None:
        if self.alive():
            self.process.send_signal(signum)


def stop_processes(processes: Iterable[ServiceProcess], timeout: float = STOP_TIMEOUT_S) -> dict[str, int]:
    """SIGTERM every live process, wait for all of them together, SIGKILL the ones that linger.

    Returns each process's exit code.
    """
    processes = list(processes)
    for process in processes:
        process.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.process.kill()
            process.process.wait()
    return {process.name: process.process.returncode for process in processes}


def run_sdd(env: dict[str, str], *args: str, timeout: float = CLI_TIMEOUT_S) -> str:
    """Run one ``sdd`` command to completion; its stdout, or ServiceError with its output."""
    done = subprocess.run(sdd_command(*args), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise ServiceError(f"`sdd {' '.join(args)}` exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def create_tokens(env: dict[str, str], tenants: Iterable[str], timeout: float = CLI_TIMEOUT_S) -> dict[str, str]:
    """``sdd token create --tenant T`` for each tenant, run in parallel; tenant -> token (last stdout line)."""
    running = {
        tenant: subprocess.Popen(
            sdd_command("token", "create", "--tenant", tenant),
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tenant in tenants
    }
    tokens: dict[str, str] = {}
    for tenant, process in running.items():
        stdout, stderr = process.communicate(timeout=timeout)
        if process.returncode != 0 or not stdout.strip():
            raise ServiceError(
                f"`sdd token create --tenant {tenant}` exited with {process.returncode}:\n{stdout}{stderr}"
            )
        tokens[tenant] = stdout.strip().splitlines()[-1]
    return tokens


def wait_until_ready(url: str, processes: Iterable[ServiceProcess], timeout: float = READY_TIMEOUT_S) -> None:
    """Poll ``GET /readyz`` until it answers 200; ServiceError if a process dies or time runs out."""
    processes = list(processes)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        for process in processes:
            if not process.alive():
                raise ServiceError(f"{process.name} exited while waiting for {url}/readyz\n{process.log_tail()}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text}"
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            tails = "\n".join(process.log_tail() for process in processes)
            raise ServiceError(f"{url}/readyz not ready after {timeout:.0f}s (last: {last})\n{tails}")
        time.sleep(0.25)


# --------------------------------------------------------------------------- the service


@dataclass
class RunningService:
    """The API and one worker of a migrated service, with a token per tenant."""

    backend: str
    url: str
    home: Path
    env: dict[str, str]
    api: ServiceProcess
    worker: ServiceProcess
    tokens: dict[str, str] = field(default_factory=dict)
    worker_args: tuple[str, ...] = ()  # how ``sdd worker`` was started

    @property
    def worker_log(self) -> Path:
        return self.worker.log_path

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.api, self.worker]

    def client(self, tenant: str = "t1", **kwargs: Any) -> httpx.Client:
        """An HTTP client for the API, authenticated as ``tenant`` (the caller closes it)."""
        headers = {"Authorization": f"Bearer {self.tokens[tenant]}", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def settings(self) -> Settings:
        """The settings the service's processes read (to find files under ``SDD_HOME``)."""
        return Settings(
            home=self.home,
            database_url=self.env.get("SDD_DATABASE_URL"),
            broker_url=self.env.get("SDD_BROKER_URL"),
        )

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(process.log_tail(lines) for process in self.processes)

    def kill_worker_and_start_another(self) -> ServiceProcess:
        """SIGKILL the worker (its whole process group: a prefork pool's children too), then start
        ``sdd worker`` again as the service started it, and wait until it consumes."""
        old = self.worker
        try:
            if old.new_session:
                os.killpg(old.pid, signal.SIGKILL)
            else:
                old.process.kill()
        except ProcessLookupError:
            pass
        old.process.wait(timeout=STOP_TIMEOUT_S)
        number = 1 + sum(1 for p in self.worker_log.parent.glob("worker*.log"))
        self.worker = ServiceProcess.start(
            "worker", sdd_command("worker", *self.worker_args), self.env, self.worker_log.parent / f"worker{number}.log",
            new_session=True,
        )  # fmt: skip
        self.worker.wait_for_log(WORKER_READY, READY_TIMEOUT_S)
        return self.worker

    def wait_for_job(
        self,
        client: httpx.Client,
        job_id: str,
        statuses: Iterable[str] = TERMINAL_STATUSES,
        timeout: float = JOB_TIMEOUT_S,
    ) -> dict[str, Any]:
        """``wait_for_job`` watching this service's API and worker."""
        return wait_for_job(client, job_id, statuses, processes=self.processes, timeout=timeout)


@contextmanager
def running_service(
    root: Path,
    backend: str = "embedded",
    database_url: str | None = None,
    broker_url: str | None = None,
    tenants: Iterable[str] = TENANTS,
    extra_env: dict[str, str] | None = None,
    worker_args: Iterable[str] = ("--pool", "solo", "--concurrency", "1"),
) -> Iterator[RunningService]:
    """Migrate, start API and worker, wait until both serve, create tokens; stop both on exit.

    ``extra_env`` adds variables (``SDD_MAX_UPLOAD_BYTES``, ...) to every process's environment;
    ``worker_args`` are ``sdd worker``'s (one solo process by default: the cheapest to start).

    Leaving the block normally, ServiceError if a process had to be killed (it ignored SIGTERM).
    Logs go to ``root/logs/{migrate,api,worker}.log``; ``SDD_HOME`` is ``root/sdd_home``.
    """
    home = root / "sdd_home"
    logs = root / "logs"
    env = service_environment(home, database_url, broker_url) | (extra_env or {})
    (logs / "migrate.log").parent.mkdir(parents=True, exist_ok=True)
    (logs / "migrate.log").write_text(run_sdd(env, "migrate"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = ServiceProcess.start(
        "api", sdd_command("api", "--host", "127.0.0.1", "--port", str(port)), env, logs / "api.log"
    )
    worker = ServiceProcess.start("worker", sdd_command("worker", *worker_args), env, logs / "worker.log")
    service = RunningService(
        backend=backend, url=url, home=home, env=env, api=api, worker=worker, worker_args=tuple(worker_args)
    )
    try:
        service.tokens = create_tokens(env, tenants)  # while API and worker import their stacks
        wait_until_ready(url, service.processes)
        worker.wait_for_log(WORKER_READY, READY_TIMEOUT_S)
        yield service
    except BaseException:
        stop_processes(service.processes)
        raise
    codes = stop_processes(service.processes)
    killed = [name for name, code in codes.items() if code == -signal.SIGKILL]
    if killed:
        raise ServiceError(
            f"{', '.join(killed)} did not stop within {STOP_TIMEOUT_S:.0f}s of SIGTERM and was killed\n"
            f"{service.log_tails()}"
        )


# --------------------------------------------------------------------------- jobs


def tiny_job(**overrides: Any) -> dict[str, Any]:
    """A ``POST /v1/jobs`` body that trains in about a second on a CPU: resnet8 on digits at 16 px.

    ``overrides`` replace top-level fields; ``hyperparameters`` are merged into the defaults.
    """
    body: dict[str, Any] = {
        "dataset": "digits",
        "student": "resnet8",
        "method": "ce",
        "seed": 0,
        "image_size": 16,
        "hyperparameters": {"epochs": 1, "batch_size": 128, "device": "cpu"},
    }
    hyperparameters = {**body["hyperparameters"], **overrides.pop("hyperparameters", {})}
    return {**body, **overrides, "hyperparameters": hyperparameters}


def wait_for_job(
    client: httpx.Client,
    job_id: str,
    statuses: Iterable[str] = TERMINAL_STATUSES,
    *,
    processes: Iterable[ServiceProcess],
    timeout: float = JOB_TIMEOUT_S,
) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` until the job is in one of ``statuses``; the job.

    ServiceError (with the log tails of ``processes``) if it reaches another terminal status, if
    one of ``processes`` dies, or after ``timeout`` seconds.
    """
    processes = list(processes)
    wanted = set(statuses)
    deadline = time.monotonic() + timeout

    def failure(what: str) -> ServiceError:
        return ServiceError(f"{what}\n" + "\n".join(process.log_tail() for process in processes))

    while True:
        response = client.get(f"/v1/jobs/{job_id}")
        if response.status_code != 200:
            raise failure(f"GET /v1/jobs/{job_id}: {response.status_code} {response.text}")
        job = response.json()
        if job["status"] in wanted:
            return job
        if job["status"] in TERMINAL_STATUSES:
            raise failure(f"job {job_id} ended {job['status']} (error {job['error']}), expected {sorted(wanted)}")
        dead = [process.name for process in processes if not process.alive()]
        if dead:
            raise failure(f"{', '.join(dead)} died while job {job_id} was {job['status']}")
        if time.monotonic() > deadline:
            raise failure(f"job {job_id} still {job['status']} after {timeout:.0f}s, expected {sorted(wanted)}")
        time.sleep(0.25)


# --------------------------------------------------------------------------- HTTP shortcuts


def submit(client: httpx.Client, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """``POST /v1/jobs``, which must answer 201; the job."""
    response = client.post("/v1/jobs", json=body, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str, param: str | None) -> dict[str, Any]:
    """The response is the error envelope with this status, code and param; the error object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param), error
    assert error["message"]
    return error


def event_types(client: httpx.Client, job_id: str) -> list[str]:
    """The types of the job's events, oldest first."""
    response = client.get(f"/v1/jobs/{job_id}/events")
    assert response.status_code == 200, response.text
    return [event["type"] for event in response.json()["data"]]


def listed_ids(client: httpx.Client) -> list[str]:
    """Ids of the caller's newest 100 jobs."""
    response = client.get("/v1/jobs", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["data"]]

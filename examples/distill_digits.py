"""End-to-end demo of the service on the embedded default, through its REST API only.

    python examples/distill_digits.py [--epochs 10] [--out demo-output] [--keep-running]

1. starts ``sdd up`` (API + one Celery worker, SQLite, file broker, local artifacts) on a free
   port, unless ``--url`` and ``--token`` point at a running service;
2. trains a teacher (resnet32, plain CE) on the ``digits`` set;
3. distils two resnet8 students from it, one with SD-KD and one with plain KD, same seed;
4. downloads the SD-KD student, checks its SHA-256, and prints the comparison.
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
from pathlib import Path
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sdd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sdd_cli", *args]


def start_service(port: int) -> subprocess.Popen:
    print(f"starting the service on http://127.0.0.1:{port} (SDD_HOME={os.environ.get('SDD_HOME', '~/.sdd')})")
    return subprocess.Popen(sdd("up", "--host", "127.0.0.1", "--port", str(port)), start_new_session=True)


def wait_ready(url: str, service: subprocess.Popen | None, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None and service.poll() is not None:
            sys.exit(f"the service exited early with code {service.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    sys.exit(f"the service at {url} was not ready after {timeout:.0f}s")


def create_token() -> str:
    done = subprocess.run(sdd("token", "create", "--tenant", "demo"), check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def submit(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/jobs", json=body)
    if response.status_code != 201:
        sys.exit(f"job refused ({response.status_code}): {response.text}")
    job = response.json()
    print(f"submitted {job['id']}: {body['method']} {body['student']} on {body['dataset']}")
    return job


def wait(client: httpx.Client, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Poll until every job is terminal, printing each finished epoch once."""
    seen: dict[str, int] = dict.fromkeys(job_ids, 0)
    jobs: dict[str, dict[str, Any]] = {}
    while True:
        for job_id in job_ids:
            job = jobs[job_id] = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
            epoch = job["progress"]["epoch"]
            if epoch > seen[job_id]:
                rows = client.get(f"/v1/jobs/{job_id}/metrics").raise_for_status().json()["data"]
                for row in rows[seen[job_id] :]:
                    print(
                        f"  {job_id} {job['spec']['method']:>6} epoch {row['epoch']:>3}/{row['epochs']}: "
                        f"loss {row['train_loss']:.3f}  val top-1 {row['val_top1']:6.2f}%"
                    )
                seen[job_id] = epoch
        if all(j["status"] in TERMINAL for j in jobs.values()):
            return jobs
        time.sleep(1.0)


def require_success(job: dict[str, Any]) -> None:
    if job["status"] != "succeeded":
        error = job.get("error") or {}
        sys.exit(f"job {job['id']} ended {job['status']}: [{error.get('code')}] {error.get('message')}")


def run(url: str, token: str, epochs: int, out_dir: Path) -> None:
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    schedule = {"epochs": epochs, "lr": 0.1, "batch_size": 64, "lr_decay_epochs": [max(1, epochs * 3 // 4)]}

    print("\n== 1. teacher: resnet32 trained with cross-entropy")
    teacher = submit(
        client,
        {
            "dataset": "digits",
            "student": "resnet32",
            "method": "ce",
            "seed": 0,
            "hyperparameters": schedule,
            "metadata": {"demo": "teacher"},
        },
    )
    teacher = wait(client, [teacher["id"]])[teacher["id"]]
    require_success(teacher)

    print("\n== 2. students: resnet8 distilled with SD-KD and with KD (same seed and schedule)")
    students = {
        method: submit(
            client,
            {
                "dataset": "digits",
                "student": "resnet8",
                "method": method,
                "seed": 1,
                "teacher": {"job": teacher["id"]},
                "scales": [1, 2, 4],
                "beta": 2.0,
                "hyperparameters": schedule,
                "metadata": {"demo": method},
            },
        )
        for method in ("sd-kd", "kd")
    }
    finished = wait(client, [job["id"] for job in students.values()])
    for job in finished.values():
        require_success(job)

    print("\n== 3. download the SD-KD student")
    sd_job = finished[students["sd-kd"]["id"]]
    response = client.get(f"/v1/jobs/{sd_job['id']}/student").raise_for_status()
    digest = hashlib.sha256(response.content).hexdigest()
    if digest != response.headers["X-Content-SHA256"]:
        sys.exit("downloaded student does not match its SHA-256")
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{sd_job['id']}-resnet8.safetensors"
    weights.write_bytes(response.content)
    card = client.get(f"/v1/jobs/{sd_job['id']}/student/card").raise_for_status().json()
    (out_dir / f"{sd_job['id']}-card.json").write_text(json.dumps(card, indent=2))
    print(f"saved {weights} ({len(response.content)} bytes, sha256 {digest[:16]}…, verified)")

    print("\n== results on the digits validation split (top-1 %)")
    print(f"{'model':<28}{'final':>8}{'best':>8}")
    print(
        f"{'teacher resnet32 (CE)':<28}{teacher['result']['val_top1']:>8.2f}{teacher['result']['best_val_top1']:>8.2f}"
    )
    for method in ("kd", "sd-kd"):
        result = finished[students[method]["id"]]["result"]
        print(
            f"{'student resnet8 (' + method.upper() + ')':<28}{result['val_top1']:>8.2f}{result['best_val_top1']:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--url", help="A running service (default: start one here).")
    parser.add_argument("--token", help="Bearer token for --url.")
    parser.add_argument("--keep-running", action="store_true", help="Leave the started service running.")
    args = parser.parse_args()

    if args.url:
        if not args.token:
            sys.exit("--url needs --token")
        wait_ready(args.url, None)
        run(args.url, args.token, args.epochs, args.out)
        return
    port = free_port()
    service = start_service(port)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, service)
        run(url, create_token(), args.epochs, args.out)
        if args.keep_running:
            print(f"\nservice left running at {url} (pid {service.pid})")
            return
    finally:
        if not args.keep_running and service.poll() is None:
            os.killpg(service.pid, signal.SIGTERM)
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(service.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()

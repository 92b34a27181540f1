"""docker-compose.yml and the Dockerfile: valid, and wired the way production needs.

No Docker engine runs here: the Dockerfile's stages are read as text (``dockerfile_stages``).

Uses ``docker-compose config`` (Debian's Compose v1 at /usr/bin/docker-compose, or whichever is
on PATH) to validate and normalise the file; skipped only when no docker-compose binary exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from service.settings import PLACEHOLDER_SECRETS, Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose") or shutil.which("/usr/bin/docker-compose")
# A release: 15.14, 7.4.6, 1.27.5-alpine, 3.11.14-slim-bookworm, MinIO's RELEASE.<date>, a version.
RELEASE_TAG = re.compile(r"^(\d+\.\d+[\w.-]*|RELEASE\.\d{4}-\d{2}-\d{2}T[\w-]+)$")


@dataclass
class Stage:
    base: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def dockerfile_stages() -> dict[str, Stage]:
    """The Dockerfile's ``FROM <base> AS <name>`` stages, in order, each with its instructions
    (continuation lines joined, comments dropped)."""
    stages: dict[str, Stage] = {}
    joined = re.sub(r"\\\n\s*", " ", (REPO_ROOT / "Dockerfile").read_text())
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)$", line, re.IGNORECASE)
        if match:
            stages[match[2]] = Stage(match[1])
        else:
            assert stages, f"an instruction before the first FROM: {line}"
            list(stages.values())[-1].lines.append(line)
    return stages


def _compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if DOCKER_COMPOSE is None:
        pytest.skip("docker-compose is not installed")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SDD_")}
    return subprocess.run(
        [DOCKER_COMPOSE, "-f", str(COMPOSE_FILE), "--project-directory", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The normalised compose configuration."""
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid():
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_services_and_their_commands(compose):
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "minio", "minio-bucket", "migrate", "api", "worker"}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["minio"]["image"].startswith("minio/minio")
    assert services["migrate"]["command"] == ["migrate"]
    assert services["api"]["command"][:1] == ["api"] and "0.0.0.0" in services["api"]["command"]
    assert services["worker"]["command"] == ["worker", "--gpus", "all"]  # one worker process per GPU


def test_each_role_builds_its_own_dockerfile_target(compose):
    services = compose["services"]
    targets = {name: services[name]["build"]["target"] for name in ("migrate", "api", "worker")}
    assert targets == {"migrate": "api", "api": "api", "worker": "worker"}  # the migration needs no CUDA
    stages = dockerfile_stages()
    assert set(targets.values()) <= set(stages)
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert services["api"]["image"] == services["migrate"]["image"] == f"sdd-jobs-api:{version}"
    assert services["worker"]["image"] == f"sdd-jobs-worker:{version}"


def test_every_image_is_pinned_to_a_release(compose):
    for name, service in compose["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest" and RELEASE_TAG.match(tag), f"{name}: {image} is not pinned to a release"
    for stage in dockerfile_stages().values():
        if stage.base not in dockerfile_stages():
            assert RELEASE_TAG.match(stage.base.rpartition(":")[2]), stage.base


def test_healthchecks_and_start_order(compose):
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert {"redis-cli", "ping"} <= set(services["redis"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "sdd", "health", "worker"]
    # a one-off: the API image's check is not its (Compose v1 writes `disable: true` as test NONE)
    assert services["migrate"]["healthcheck"] in ({"disable": True}, {"test": ["NONE"]})
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "mc" in services["minio"]["healthcheck"]["test"]
    assert services["minio-bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-bucket"]["condition"] == "service_completed_successfully"


def test_worker_reserves_every_gpu_of_its_node(compose):
    devices = compose["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


def _volume_sources(service: dict[str, Any]) -> set[str]:
    return {str(m).split(":")[0] if not isinstance(m, dict) else m.get("source") for m in service.get("volumes", [])}


def test_api_and_worker_share_no_disk_but_one_bucket(compose):
    services = compose["services"]
    api, worker = _volume_sources(services["api"]), _volume_sources(services["worker"])
    assert api and worker and not api & worker  # each its own SDD_HOME (upload spooling; the node cache)
    bucket = services["minio-bucket"]["command"][-1].removeprefix("local/")
    for name in ("api", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["SDD_ARTIFACT_URL"] == f"s3://{bucket}/sdd"
        assert env["SDD_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["AWS_ACCESS_KEY_ID"] == services["minio"]["environment"]["MINIO_ROOT_USER"]
        assert env["AWS_SECRET_ACCESS_KEY"] == services["minio"]["environment"]["MINIO_ROOT_PASSWORD"]
        settings = Settings(
            artifact_url=env["SDD_ARTIFACT_URL"],
            s3_endpoint_url=env["SDD_S3_ENDPOINT_URL"],
            cache_max_bytes=env["SDD_CACHE_MAX_BYTES"],
            s3_presigned_downloads=env["SDD_S3_PRESIGNED_DOWNLOADS"],
        )
        assert settings.artifact_url and settings.cache_max_bytes > 0 and not settings.s3_presigned_downloads


def test_production_settings_with_a_real_password(compose):
    for name in ("migrate", "api", "worker"):
        env = compose["services"][name]["environment"]
        assert env["SDD_ENV"] == "production"
        assert env["SDD_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["SDD_BROKER_URL"].startswith("redis://redis:6379/")
        password = make_url(env["SDD_DATABASE_URL"]).password
        assert password and password.lower() not in PLACEHOLDER_SECRETS
        assert password == compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
        # the service accepts this configuration
        Settings(env="production", database_url=env["SDD_DATABASE_URL"], broker_url=env["SDD_BROKER_URL"])


def test_password_comes_from_the_environment():
    result = _compose(
        "config",
        env={"SDD_POSTGRES_PASSWORD": "s3cret-from-env", "SDD_S3_SECRET_KEY": "minio-s3cret", "SDD_S3_BUCKET": "fleet"},
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret-from-env"
    assert ":s3cret-from-env@postgres:" in services["worker"]["environment"]["SDD_DATABASE_URL"]
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] == "minio-s3cret"
    assert services["worker"]["environment"]["AWS_SECRET_ACCESS_KEY"] == "minio-s3cret"
    assert services["api"]["environment"]["SDD_ARTIFACT_URL"] == "s3://fleet/sdd"


def test_dockerfile_builds_non_root_images_per_role_from_the_lock():
    stages = dockerfile_stages()
    assert list(stages) == ["base", "api-dependencies", "worker-dependencies", "api", "worker"]
    assert stages["base"].base.startswith("python:3.11.") and stages["base"].base.endswith("-slim-bookworm")
    assert stages["api"].base == "api-dependencies" and stages["worker"].base == "worker-dependencies"
    for name in ("api", "worker"):
        stage = stages[name]
        users = [line.split()[1] for line in stage.lines if line.startswith("USER ")]
        assert users and users[-1] not in ("root", "0"), name
        assert 'ENTRYPOINT ["sdd"]' in stage.lines, name
        assert any(line.startswith("HEALTHCHECK ") for line in stage.lines), name
        assert "pip install --no-deps -e ./client -e ." in stage.text, name  # the project, no dependency
    assert "/healthz" in stages["api"].text and 'CMD ["sdd", "health", "worker"]' in stages["worker"].text
    # Dependencies from the lock only; the API's torch from the CPU-only index, no CUDA library kept.
    assert "pip install -r requirements/server.txt" in stages["api-dependencies"].text
    assert "pip install -r requirements/server.txt" in stages["worker-dependencies"].text
    assert "download.pytorch.org/whl/cpu" in stages["api-dependencies"].text
    assert (
        "nvidia-" in stages["api-dependencies"].text
        and "download.pytorch.org" not in stages["worker-dependencies"].text
    )
    for stage in stages.values():
        for source in re.findall(r"COPY --from=(\S+)", stage.text):
            assert source in stages, source
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv"} <= set(ignored) and not {"requirements", "client", "sdd_client"} & set(ignored)


def test_clients_reach_the_api_through_a_proxy_with_header_and_body_timeouts(compose):
    services = compose["services"]
    proxy, api = services["proxy"], services["api"]
    assert proxy["image"].startswith("nginx:") and proxy["image"] != "nginx:latest"
    assert "ports" not in api and proxy["ports"]  # the API's port is published through the proxy only
    assert api["environment"]["SDD_FORWARDED_ALLOW_IPS"] == "*"
    mounted = [volume if isinstance(volume, str) else volume["source"] for volume in proxy["volumes"]]
    assert any("deploy/nginx.conf" in source for source in mounted), mounted
    conf = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
    for directive in ("client_header_timeout", "client_body_timeout", "limit_conn per_client", "limit_req zone"):
        assert directive in conf, directive
    assert "server api:8000" in conf and "X-Forwarded-For $remote_addr" in conf

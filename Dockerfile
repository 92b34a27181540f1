# One image for every process of sdd-jobs: `sdd migrate`, `sdd api`, `sdd worker`.
#
#   docker build -t sdd-jobs .
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t sdd-jobs:cpu .
#
# PyPI's Linux torch wheels bundle CUDA, so the default image trains on NVIDIA GPUs (the host
# needs only the driver and the NVIDIA container toolkit). TORCH_INDEX_URL picks another torch
# build, e.g. the much smaller CPU-only one for the API or for CPU-only hosts.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SDD_HOME=/var/lib/sdd

# An unprivileged user owns SDD_HOME (artifacts, uploaded datasets, work folders, the embedded
# SQLite/broker when no server is configured). A named volume mounted there starts with this
# ownership, so api and worker containers can share it.
RUN groupadd --system --gid 10001 sdd \
    && useradd --system --uid 10001 --gid sdd --home-dir /var/lib/sdd --shell /usr/sbin/nologin sdd \
    && mkdir -p /var/lib/sdd \
    && chown sdd:sdd /var/lib/sdd

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall torch.
COPY pyproject.toml README.md* ./
RUN mkdir -p sdd_core service api worker \
    && touch sdd_core/__init__.py service/__init__.py api/__init__.py worker/__init__.py \
    && pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} . \
    && pip uninstall -y sdd-jobs \
    && rm -rf sdd_core service api worker build *.egg-info

# The project itself. Editable, because migrations/ is found next to the service package.
COPY . .
RUN pip install --no-deps -e . \
    && python -c "import sdd_core, service, api, service.job_queue"

USER sdd
VOLUME ["/var/lib/sdd"]
EXPOSE 8000

ENTRYPOINT ["sdd"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

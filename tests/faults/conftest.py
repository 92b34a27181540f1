"""Fault injection against real processes: PostgreSQL, redis-server, ``sdd worker`` and ``sdd api``.

``cluster`` (function scope): a fresh database on the session's PostgreSQL, a private
redis-server the test may kill, and ``SDD_*`` settings for fast recovery (6 s lease, reaper every
second, lost messages re-sent after 3 s); every process a test starts is killed at its end. See
``tests.faults.cluster``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.faults.cluster import Cluster, cluster_database
from tests.fixtures.servers import PostgresServer

_numbers = itertools.count(1)


@pytest.fixture
def cluster(tmp_path, postgres_server: PostgresServer) -> Iterator[Cluster]:
    with cluster_database(postgres_server, f"faults_{os.getpid()}_{next(_numbers)}") as database:
        with Cluster.create(tmp_path, postgres_server, database) as running:
            yield running

"""A Celery prefork pool child may start the processes of the job it trains (its loader's workers).

billiard marks every pool child *daemonic*, and Python's multiprocessing refuses a daemonic
process children of its own (``AssertionError: daemonic processes are not allowed to have
children``): a job on the loader path with loader workers (every large-image job on a GPU node)
failed in every prefork worker. The flag only governs what this process may start and how it
treats its own children at exit; Celery's main process keeps its own record of the child and
still stops it on shutdown. So while a job runs, its pool child is marked non-daemonic
(``may_start_processes``), and marked daemonic again afterwards.

What the job starts ends with it: the trainer shuts its loader's workers down when the run ends
(``TrainingData.close``), the workers ignore the SIGTERM and SIGINT meant for the worker's process
group (the training process decides when they stop, see ``sdd_core.data.loader_batches``), and
torch's workers exit on their own when their parent is gone.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def may_start_processes() -> Iterator[None]:
    """While the block runs, this process (a daemonic pool child or not) may start child processes."""
    process: Any = multiprocessing.current_process()  # billiard's pool child, as multiprocessing sees it
    config: dict[str, Any] = process._config  # where both keep the daemon flag
    daemonic = config.get("daemon", False)
    config["daemon"] = False
    try:
        yield
    finally:
        config["daemon"] = daemonic

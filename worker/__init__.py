"""The Celery side of sdd-jobs: the training task and what keeps jobs alive around it.

The Celery app (``service.broker``) and the sending side (``service.job_queue``, which the API
uses too) live in ``service``; the rules a job is validated and moved by live in ``domain``.

* ``worker.tasks`` — the ``sdd.run_job`` task and the start-up re-enqueue of queued jobs.
* ``worker.runner`` — claims a job, trains it with ``sdd_core.trainer``, records the outcome.
* ``worker.training_callbacks`` — epochs, checkpoints and when to stop (cancel, shutdown, time limit).
* ``worker.lease_heartbeat`` — the thread that renews a running job's lease.
* ``worker.shutdown`` — SIGTERM / warm shutdown -> the running job stops at its next batch.
* ``worker.reaper`` — every worker's thread re-queueing jobs of lost workers and lost messages.
* ``worker.broker_messages`` — which jobs have a message waiting in the broker.
* ``worker.job_artifacts`` — a job's files in the artifact store and their ``Artifact`` rows.
* ``worker.resumption`` — the checkpoint a stopping attempt leaves, and the next attempt's resume.
* ``worker.failures`` — an exception -> the error code and message stored on a failed job.

Run a worker with ``sdd worker``.
"""

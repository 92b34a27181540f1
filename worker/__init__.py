"""The Celery side of sdd-jobs: the app, the queue the API sends to, and the training task.

* ``worker.celery_app`` — the Celery app, configured from ``service.settings``.
* ``worker.queue`` — ``enqueue_job`` and ``check_broker`` (light: the API imports them).
* ``worker.tasks`` — the ``sdd.run_job`` task and the start-up re-enqueue of queued jobs.
* ``worker.runner`` — claims a job, trains it with ``sdd_core.trainer``, records the outcome.
* ``worker.spec_resolution`` — the stored REST spec (ids) -> a ``JobSpec`` (files).
* ``worker.training_callbacks`` — epochs, checkpoints and when to stop (cancel, shutdown, time limit).
* ``worker.lease_heartbeat`` — the thread that renews a running job's lease.
* ``worker.shutdown`` — SIGTERM / warm shutdown -> the running job stops at its next batch.
* ``worker.reaper`` — every worker's thread re-queueing jobs of lost workers and lost messages.
* ``worker.broker_messages`` — which jobs have a message waiting in the broker.
* ``worker.job_artifacts`` — a job's files in the artifact store and their ``Artifact`` rows.
* ``worker.resumption`` — the checkpoint a stopping attempt leaves, and the next attempt's resume.
* ``worker.failures`` — an exception -> the error code and message stored on a failed job.

Run a worker with ``sdd worker`` (see ``service.cli``).
"""

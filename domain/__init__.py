"""The domain layer: every rule about jobs, sweeps, datasets and uploaded models, in one place.

    jobs/       a job's request, validation, references, submission, cancellation, resumption,
                transitions (claim, lease, progress, release, finish), read models, copies, speeds
    sweeps/     a sweep's request and grid, its members and lockstep groups, read models, report
    datasets/   datasets registered where they live (allow-listed S3 prefixes) or uploaded as
                archives: layouts, ingestion into WebDataset shards, their index and statistics
    models/     uploaded teacher weights, checked and stored
    recovery/   jobs and ingestions that lost their worker or message (the reaper's rules), live workers
    errors, status, ownership, redaction, text_rules, uploads: what every part above shares

Refusals are ``domain.errors.DomainError`` values carrying the field's location as data; ``api``
turns them into HTTP answers and ``worker`` into stored error codes. One ``JobStatus``
(``status``). It builds on ``sdd_core`` (the library) and ``service`` (settings, SQL, artifacts,
the broker) and knows nothing of HTTP or of Celery tasks.
"""

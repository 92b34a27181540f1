"""The domain layer: every rule about jobs, datasets and uploaded models, in one place.

It owns submission (``submission``, validated by ``validation.validate_submission``), the
resolution of the references a job makes (``references``), the read models the REST routes and
the dashboard share (``job_reads``, ``datasets``, ``uploaded_models``), cancellation
(``cancellation``) and every transition of a job (``transitions``, ``recovery``), with one
``JobStatus`` (``status``). Refusals are ``domain.errors.DomainError`` values carrying the field's
location as data; ``api`` turns them into HTTP answers and ``worker`` into stored error codes.

It builds on ``sdd_core`` (the library) and ``service`` (settings, SQL, artifacts, the broker) and
knows nothing of HTTP or of Celery tasks.
"""

"""Jobs: the request (``job_request``), its validation and references, submission, cancellation,
resumption, every state transition (``transitions``), the read models and a job's copy, and the
speeds this service measured."""

"""Sweeps: the request and its grid (``sweep_request``), submission as member jobs and lockstep
groups (``sweep_submission``), the read models, and the report with its statistics and Markdown."""

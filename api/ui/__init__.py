"""The web dashboard at ``/ui``: server-rendered pages over the same tenant-scoped data as ``/v1``.

``routes`` holds sign-in and ``install_ui(app)`` (its docstring describes the security design);
``job_pages`` the job list, job, and comparison pages; ``submit_page`` the job form, built by
``submit_form``; ``job_views`` what a page shows of a job; ``session`` the sign-in and CSRF
cookies; ``rendering`` the Jinja2 environment and error pages.
"""

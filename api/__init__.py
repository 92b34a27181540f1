"""The REST front end of sdd-jobs (FastAPI). Build the app with ``api.app.create_app``.

Run it with ``uvicorn --factory api.app:create_app``.
"""

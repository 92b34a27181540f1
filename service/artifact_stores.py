"""Which artifact store a process uses (``service.artifacts`` says what every store offers).

``SDD_ARTIFACT_URL=s3://bucket/prefix``: ``service.s3_store.S3ArtifactStore``, imported only then,
so the embedded default never loads boto3; else ``service.local_store.LocalArtifactStore``.
"""

from __future__ import annotations

from service.artifacts import ArtifactStore
from service.local_store import LocalArtifactStore
from service.settings import Settings, get_settings


def get_artifact_store(settings: Settings | None = None) -> ArtifactStore:
    """The store the settings name: S3 for ``SDD_ARTIFACT_URL=s3://…``, else files at ``SDD_ARTIFACT_DIR``.

    Each call returns a new store object (cheap: an S3 store shares its process's client), so
    whoever fetches through it can ``close`` it without touching another caller's fetches.
    """
    settings = settings or get_settings()
    if settings.artifact_url is not None:
        # Imported here, not at the top: boto3 is loaded only by processes configured for S3.
        from service.s3_store import s3_store_from_settings

        return s3_store_from_settings(settings)
    return LocalArtifactStore(settings.artifact_dir)

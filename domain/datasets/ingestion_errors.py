"""Why an ingestion cannot go on: ``IngestionError``, with a stable code stored on the dataset.

Raised by the listing, the layouts and the shard building, each naming what is wrong (the source,
the missing file, the empty class) in words the dataset's owner can act on; the worker stores the
code and message on the dataset (``failed``) and deletes what the attempt wrote.

Codes: ``source_not_allowed``, ``source_unreadable``, ``listing_too_large``, ``empty_source``,
``unknown_layout``, ``layout_mismatch``, ``empty_class``, ``no_images``, ``bad_shard``,
``invalid_archive``, ``quota_exceeded``; ``worker_lost`` and ``internal_error`` are set by the
worker and the reaper.
"""

from __future__ import annotations

from domain.errors import DomainError


class IngestionError(DomainError):
    """An ingestion failed for a reason its dataset's owner can act on."""

    default_code = "ingestion_failed"

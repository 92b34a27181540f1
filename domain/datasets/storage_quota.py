"""A tenant's storage quota: the bytes its datasets take (shards, kept archives) plus the uploads it
has open, against ``SDD_TENANT_STORAGE_QUOTA_BYTES`` (0: no quota).

Uploads are checked when they begin, for the whole size they announce, so an upload that would
end past the quota is refused before its first byte, naming the quota and what is used.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.errors import LimitExceeded, Location
from service.db.models import Dataset, DatasetUpload
from service.settings import Settings

OPEN_UPLOAD_STATUSES = ("open", "completing")


def storage_used(session: Session, tenant_id: str) -> int:
    """Bytes the tenant's datasets take plus the sizes of its uploads still open."""
    datasets = session.scalar(
        select(func.coalesce(func.sum(Dataset.storage_bytes), 0)).where(Dataset.tenant_id == tenant_id)
    )
    uploads = session.scalar(
        select(func.coalesce(func.sum(DatasetUpload.size_bytes), 0)).where(
            DatasetUpload.tenant_id == tenant_id, DatasetUpload.status.in_(OPEN_UPLOAD_STATUSES)
        )
    )
    return int(datasets or 0) + int(uploads or 0)


def check_quota(session: Session, settings: Settings, tenant_id: str, size_bytes: int, location: Location) -> None:
    """``LimitExceeded`` (``quota_exceeded``) on ``location`` if ``size_bytes`` more would take the
    tenant past its storage quota."""
    quota = settings.tenant_storage_quota_bytes
    if quota <= 0:
        return
    used = storage_used(session, tenant_id)
    if used + size_bytes > quota:
        raise LimitExceeded(
            f"{'.'.join(str(part) for part in location)}: {size_bytes} bytes more would take your datasets "
            f"past your storage quota of {quota} bytes ({used} bytes used, {max(quota - used, 0)} left); "
            "free space or ask the operator for a larger quota",
            code="quota_exceeded",
            location=location,
        )

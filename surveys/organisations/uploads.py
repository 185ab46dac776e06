"""The organisation import's uploads between preview and confirm, kept in the database so that
any worker or host can confirm them (models: OrganisationImportUpload)."""

from datetime import datetime, timedelta

from django.db import transaction

from accounts.models import User
from surveys.models import OrganisationImportUpload

# Uploads nobody confirmed are removed after a day, at the next upload.
STALE_AFTER = timedelta(days=1)


@transaction.atomic
def import_upload_store(
    *, content: bytes, filename: str, user: User, now: datetime
) -> OrganisationImportUpload:
    """Keep the file for its confirm. A user has one pending upload: a new one replaces theirs;
    everyone's older than a day go too."""
    OrganisationImportUpload.objects.filter(uploaded_by=user).delete()
    OrganisationImportUpload.objects.filter(created_at__lt=now - STALE_AFTER).delete()
    return OrganisationImportUpload.objects.create(
        content=content, filename=filename, uploaded_by=user, created_at=now
    )


def import_upload_get(*, upload_id: object, user: User) -> OrganisationImportUpload | None:
    """The user's own pending upload of that id, or None (another user's is never returned)."""
    if not isinstance(upload_id, int):
        return None
    return OrganisationImportUpload.objects.filter(pk=upload_id, uploaded_by=user).first()


def import_upload_discard(*, upload: OrganisationImportUpload) -> None:
    upload.delete()

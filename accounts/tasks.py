"""Housekeeping of what signing in and the API leave in the database: sessions past their
expiry (Django keeps them until clearsessions runs) and the API rate limit's ended windows.
Daily, by the beat schedule (settings.CELERY_BEAT_SCHEDULE)."""

import time
from importlib import import_module

from celery import shared_task
from django.conf import settings

from accounts.models import ApiRateCount


@shared_task(name="accounts.expired_rows_delete")
def expired_rows_delete() -> dict:
    sessions = import_module(settings.SESSION_ENGINE).SessionStore
    before = sessions.get_model_class().objects.count()
    sessions.clear_expired()
    deleted_sessions = before - sessions.get_model_class().objects.count()
    deleted_counts, _ = ApiRateCount.objects.filter(expires_at__lt=time.time()).delete()
    return {"sessions": deleted_sessions, "rate_counts": deleted_counts}

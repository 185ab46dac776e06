"""Invitations and their personal links.

A token is HMAC(SECRET_KEY, nonce), 256 bits, URL-safe base64. The database keeps the nonce (so
the server can rebuild the link for reminders) and SHA-256 of the token (to look it up), so a dump
of the database alone opens nothing.
"""

import base64
import functools
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from surveys.models import ClusterOrganisation, Contact, Invitation, Survey
from surveys.webhooks.events import webhooks_invitation_opted_out

TOKEN_SALT = "surveys.invitation-token"
# 32 bytes in unpadded URL-safe base64.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


@functools.cache
def _token_key(secret: str) -> bytes:
    # The key salted_hmac derives on every call; derived once per secret (a wave of 100,000
    # makes as many tokens, and so does sending it).
    return hashlib.sha256((TOKEN_SALT + secret).encode()).digest()


def invitation_token_from_nonce(nonce: str) -> str:
    """HMAC-SHA256 of the nonce, as salted_hmac(TOKEN_SALT, nonce, algorithm="sha256")
    computes it (tests/questionnaire/test_token_privacy.py checks both agree)."""
    key = _token_key(settings.SECRET_KEY)
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_lookup_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def invitation_token(invitation: Invitation) -> str:
    return invitation_token_from_nonce(invitation.token_nonce)


def invitation_link(invitation: Invitation) -> str:
    """The absolute personal link, built from SITE_URL."""
    path = reverse("surveys:token_entry", kwargs={"token": invitation_token(invitation)})
    return f"{settings.SITE_URL}{path}"


def new_token_fields() -> dict[str, str]:
    nonce = secrets.token_hex(16)
    return {
        "token_nonce": nonce,
        "token_hash": token_lookup_hash(invitation_token_from_nonce(nonce)),
    }


def invitation_get_by_token(*, token: str) -> Invitation | None:
    """The invitation a token opens, or None for an unknown or malformed token."""
    if not TOKEN_PATTERN.match(token):
        return None
    return (
        Invitation.objects.select_related("survey", "organisation")
        .filter(token_hash=token_lookup_hash(token))
        .first()
    )


def invitation_mark_opened(*, invitation: Invitation, now: datetime) -> None:
    """Record the first opening. Idempotent: a conditional update keeps the earliest time."""
    updated = Invitation.objects.filter(pk=invitation.pk, first_opened_at__isnull=True).update(
        first_opened_at=now
    )
    if updated:
        invitation.first_opened_at = now


def invitation_opt_out(*, invitation: Invitation, now: datetime) -> bool:
    """No more email for this survey. Idempotent: the first opt-out time is kept (and only
    that one emits `invitation.opted_out`); queued deliveries are dropped at send time by the
    eligibility check."""
    with transaction.atomic():
        opted_out = bool(
            Invitation.objects.filter(pk=invitation.pk, opted_out_at__isnull=True).update(
                opted_out_at=now, reminder_due_at=None
            )
        )
        if opted_out:
            webhooks_invitation_opted_out(invitation=invitation, now=now)
        return opted_out


def invitation_create(
    *,
    survey: Survey,
    organisation: ClusterOrganisation,
    contacts: list[Contact] | None = None,
    now: datetime,
) -> Invitation:
    """Create the invitation of an organisation to a survey, or return the existing one
    (invitations are unique per survey and organisation)."""
    with transaction.atomic():
        invitation = Invitation.objects.filter(survey=survey, organisation=organisation).first()
        if invitation is None:
            invitation = Invitation.objects.create(
                survey=survey, organisation=organisation, created_at=now, **new_token_fields()
            )
        if contacts is None:
            contacts = list(organisation.contacts.filter(suppressed_at__isnull=True))
        if contacts:
            invitation.contacts.add(*contacts)
        return invitation

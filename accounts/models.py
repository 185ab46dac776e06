from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The project's own user model, present from the first migration so it can grow later."""

    class Meta:
        db_table = "accounts_user"


class ApiToken(models.Model):
    """A personal API token for scripts (/api/v1/, `Authorization: Bearer <token>`).

    Only a SHA-256 hash of the secret is stored: the secret is shown once, when the token is
    made. A token acts as its owner, with the owner's roles, capped by its scope (read-only:
    GET only) and, when `survey` is set, limited to that survey. Revoked by its owner; a
    revoked token is kept (its name and last use stay visible) but authenticates nothing."""

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    survey = models.ForeignKey(
        "surveys.Survey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: every survey the owner may see.",
    )
    # The first characters of the secret, to recognise a token in a list (not secret alone).
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["read", "write"]), name="apitoken_scope_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiRateCount(models.Model):
    """Requests of one caller in one window of the API's rate limit, for installations without
    Redis (the embedded run): counted by one upsert, so simultaneous requests on several
    workers each get their own number (eccp_survey.api.throttling). With Redis the counts live
    there instead."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    # Seconds since the epoch when the window ends (rows past it are deleted).
    expires_at = models.FloatField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"

"""Organisations staff import and invite: sectors, cluster organisations, their contacts."""

from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django_countries.fields import CountryField


class Sector(models.Model):
    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ClusterOrganisation(models.Model):
    name = models.CharField(max_length=300)
    # Identifier in the source the organisations were imported from; re-imports match on it.
    external_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    country = CountryField(help_text="ISO 3166-1 alpha-2 code (XK for Kosovo).")
    is_cosme = models.BooleanField("COSME country", default=False)
    city = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=200, blank=True)
    sectors = models.ManyToManyField(Sector, blank=True, related_name="organisations")
    year_founded = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1800), MaxValueValidator(2100)],
    )
    website = models.URLField(blank=True)
    profile_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(year_founded__isnull=True)
                | Q(year_founded__gte=1800, year_founded__lte=2100),
                name="organisation_year_founded_range",
            ),
        ]
        indexes = [models.Index(fields=["country"])]

    def __str__(self) -> str:
        return self.name

    def years_of_experience(self, at: datetime) -> int | None:
        """Years from the founding year to `at` (a survey's opens_at, per the glossary)."""
        if self.year_founded is None:
            return None
        return max(0, at.year - self.year_founded)


class Contact(models.Model):
    organisation = models.ForeignKey(
        ClusterOrganisation, on_delete=models.CASCADE, related_name="contacts"
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField()
    language = models.CharField(max_length=8, default="en")
    # A bounced or complaining address gets no email of any survey.
    suppressed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organisation", "email"]
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("email"), name="contact_unique_email_per_organisation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class OrganisationImportUpload(models.Model):
    """A file uploaded to the organisation import, kept between its preview and its confirm.

    In the database, not in a worker's memory or disk, so that the confirm may reach another
    worker or host. Only its uploader may confirm it; unconfirmed ones are deleted after a day
    (surveys/organisations/uploads.py)."""

    content = models.BinaryField()
    filename = models.CharField(max_length=255)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.filename

"""Signal receivers: a renamed or deleted sector makes cached statistics stale (its name is in
every by_sector row; surveys/results/summaries.py)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from surveys.models import Sector
from surveys.results.summaries import sectors_renamed


@receiver([post_save, post_delete], sender=Sector)
def sector_changed(sender: type, instance: Sector, **kwargs: object) -> None:
    sectors_renamed()

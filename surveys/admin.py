"""The admin screens of every room, registered on import (Django's admin autodiscovery imports
this module)."""

from surveys.organisations import admin as organisations_admin
from surveys.outreach import admin as outreach_admin
from surveys.outreach import invitation_admin
from surveys.questionnaire import admin as questionnaire_admin

__all__ = ["invitation_admin", "organisations_admin", "outreach_admin", "questionnaire_admin"]

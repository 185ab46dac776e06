"""The endpoint form of the staff pages."""

from typing import Any

from django import forms
from django.core.validators import URLValidator

from surveys.models import Survey, WebhookEventType


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        validators=[URLValidator(schemes=["https", "http"])],
        help_text="Where events are POSTed. Use https:// so that payloads travel encrypted.",
        widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    description = forms.CharField(
        max_length=200,
        required=False,
        help_text="For you and your colleagues: what receives these events.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
    survey = forms.ModelChoiceField(
        queryset=Survey.objects.order_by("title"),
        required=False,
        empty_label="All surveys",
        help_text="Only this survey's events, or those of every survey.",
    )
    is_active = forms.BooleanField(
        label="Active", required=False, initial=True, help_text="Inactive endpoints get nothing."
    )
    identified = forms.BooleanField(
        label="Send identified data",
        required=False,
        help_text=(
            "Admins only. Adds response, invitation and organisation ids, the organisation's "
            "name and a bounced contact's address to every event. Without it, a pseudonym "
            "stands for the respondent."
        ),
    )

    def __init__(self, *args: Any, may_identify: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_identify:
            del self.fields["identified"]

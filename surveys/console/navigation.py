"""The tabs of a survey's area, for templates/staff/survey_base.html: a context processor, so
that the pages of other rooms (the dashboard, exports and report of surveys.results) get the
same header and tabs without passing anything. No query unless the page is a survey's."""

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.roles import ADMIN, STAFF, user_has_role

# (tab, label, URL name, for Viewers too): the order of the tabs.
TABS = (
    ("overview", "Overview", "survey_overview", True),
    ("results", "Results", "dashboard", True),
    ("responses", "Responses", "survey_responses", False),
    ("outreach", "Outreach", "survey_outreach", False),
    ("organisations", "Organisations", "survey_organisations", False),
    ("exports", "Exports", "surveys_exports", False),
    ("report", "Report", "survey_report", True),
)
# The tab each page of a survey belongs to, by URL name.
TAB_OF_PAGE = {
    "survey_overview": "overview",
    "dashboard": "results",
    "survey_responses": "responses",
    "survey_response": "responses",
    "survey_texts": "responses",
    "survey_text_answers": "responses",
    "survey_outreach": "outreach",
    "survey_wave": "outreach",
    "survey_deliveries": "outreach",
    "survey_organisations": "organisations",
    "surveys_exports": "exports",
    "surveys_export_job": "exports",
    "survey_report": "report",
}


def survey_tabs(request: HttpRequest) -> dict[str, Any]:
    """`survey_tabs`: [{label, url, current}] for the pages of a survey's area (those of
    TAB_OF_PAGE), the tabs the user's role may open only; nothing on other pages."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name not in TAB_OF_PAGE or "slug" not in match.kwargs:
        return {}
    current = TAB_OF_PAGE[match.url_name]
    full = user_has_role(request.user, ADMIN, STAFF)
    namespace = f"{match.namespace}:" if match.namespace else ""
    return {
        "survey_tabs": [
            {
                "key": key,
                "label": label,
                "url": reverse(namespace + name, kwargs={"slug": match.kwargs["slug"]}),
                "current": key == current,
            }
            for key, label, name, for_viewers in TABS
            if full or for_viewers
        ]
    }

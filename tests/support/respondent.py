"""A respondent driving the pages with Django's test client."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.test import Client

from surveys.models import Invitation

if TYPE_CHECKING:  # the test client's response type exists in django-stubs only
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

# Valid answers for every page of tests/questionnaire/files/all_types.yaml.
ALL_TYPES_ANSWERS: dict[int, dict[str, str | list[str]]] = {
    1: {"size": "2", "services": ["1", "9"], "services-other": "Webinars", "founded": "1999"},
    2: {
        "quality": "5",
        "statements-row-1": "3",
        "statements-row-2": "1",
        "priorities-rank-1": "2",
        "priorities-rank-2": "1",
    },
    3: {"cooperates": "1", "partner_countries": ["US", "CA"], "home_country": "BE"},
    4: {"partner_detail": "MIT", "suggestions": "More events"},
}


@dataclass
class Respondent:
    client: Client
    invitation: Invitation

    @property
    def base(self) -> str:
        return f"/respond/{self.invitation.public_id}"

    def open_link(self, token: str) -> "TestResponse":
        return self.client.get(f"/s/{token}/")

    def page(self, number: int) -> "TestResponse":
        return self.client.get(f"{self.base}/page/{number}/")

    def post_page(
        self, number: int, data: Mapping[str, Any], action: str = "next"
    ) -> "TestResponse":
        return self.client.post(f"{self.base}/page/{number}/", {**data, "action": action})

    def review(self) -> "TestResponse":
        return self.client.get(f"{self.base}/review/")

    def submit(self) -> "TestResponse":
        return self.client.post(f"{self.base}/review/")

    def answer_all(self, answers: Mapping[int, Mapping[str, Any]] | None = None) -> None:
        for number, data in (answers or ALL_TYPES_ANSWERS).items():
            response = self.post_page(number, data)
            assert response.status_code == 302, response.content.decode()[:2000]

"""Respondent details: the organiser's contact and privacy notice on every respondent page,
country lists a question limits, several countries as plain checkboxes, "Please specify" that
says when it is needed (the browser side is in test_browser_respondent_details.py)."""

import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import URLPattern, reverse

from surveys.demo import load as demo
from surveys.models import Answer
from surveys.outreach.emails import unsubscribe_token
from surveys.questionnaire import urls as questionnaire_urls
from surveys.questionnaire.survey_files import (
    survey_export,
    survey_file_validate,
    survey_import,
)
from surveys.questionnaire.types.country import COUNTRY_GROUPS
from tests.factories import invitation_with_token, open_survey
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

from .test_survey_files import load, question_data

pytestmark = pytest.mark.django_db

CONTACT = {
    "contact_name": "the survey team",
    "contact_email": "team@survey.example",
    "privacy_notice_url": "https://survey.example/privacy",
}
FOOTER = (
    'Contact the survey team at <a href="mailto:team@survey.example">team@survey.example</a>',
    '<a href="https://survey.example/privacy">Privacy notice</a>',
)

# Every respondent page: the questionnaire's routes that take the invitation's public id.
RESPONDENT_PAGES = [
    pattern.name
    for pattern in questionnaire_urls.urlpatterns
    if isinstance(pattern, URLPattern) and "public_id" in pattern.pattern.converters
]


def test_the_respondent_pages_are_found():
    assert {"respond", "page", "review", "thanks", "answers"} <= set(RESPONDENT_PAGES)


@pytest.mark.parametrize("name", RESPONDENT_PAGES)
@pytest.mark.parametrize("submitted", [False, True], ids=["answering", "submitted"])
def test_every_respondent_page_shows_the_contact_and_the_privacy_notice(
    client: Client, name: str, submitted: bool
):
    survey = open_survey(allow_edit_after_submit=True, **CONTACT)
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    if submitted:
        person.answer_all()
        person.submit()
    kwargs = {"public_id": invitation.public_id, **({"number": 1} if name == "page" else {})}
    page = client.get(reverse(f"surveys:{name}", kwargs=kwargs), follow=True)
    assert page.status_code == 200
    body = page.content.decode()
    for part in FOOTER:
        assert part in body


def test_closed_survey_and_unsubscribe_pages_show_them_too(client: Client):
    survey = open_survey(**CONTACT)
    invitation, token = invitation_with_token(survey)
    unsubscribe = client.get(reverse("surveys:unsubscribe", args=[unsubscribe_token(invitation)]))
    survey.status = "closed"
    survey.save()
    closed = client.get(client.get(f"/s/{token}/")["Location"])
    for page in (unsubscribe, closed):
        assert page.status_code == 200
        for part in FOOTER:
            assert part in page.content.decode()


def test_no_contact_set_means_no_empty_footer(client: Client):
    survey = open_survey()
    _, token = invitation_with_token(survey)
    welcome = client.get(client.get(f"/s/{token}/")["Location"]).content.decode()
    assert "site-footer" not in welcome


def test_contact_and_privacy_notice_round_trip_through_a_survey_file():
    data = {**load(), **CONTACT}
    assert survey_file_validate(data) == []
    exported = survey_export(open_survey(**CONTACT))
    assert {key: exported[key] for key in CONTACT} == CONTACT


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contact_email", "not an address", "survey.contact_email: must be an email address"),
        ("privacy_notice_url", "javascript:alert(1)", "survey.privacy_notice_url: must be a web"),
        ("contact_name", "x" * 201, "survey.contact_name: at most 200 characters"),
    ],
)
def test_a_bad_contact_or_privacy_address_is_refused(field, value, message):
    errors = survey_file_validate({**load(), field: value})
    assert any(error.startswith(message) for error in errors), errors


# Countries ---------------------------------------------------------------------------------


def survey_with_partner_countries(**options):
    data = load()
    question = question_data(data, "partner_countries")
    question["options"] = {"multiple": True, **options}
    return data


def page_3(client: Client, **options) -> tuple[Respondent, str]:
    data = survey_with_partner_countries(**options)
    data.update(status="open", opens_at="2020-01-01T00:00:00+00:00")
    data["closes_at"] = "2099-01-01T00:00:00+00:00"
    survey = survey_import(data=data)
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    person.answer_all({1: ALL_TYPES_ANSWERS[1], 2: ALL_TYPES_ANSWERS[2]})
    return person, person.page(3).content.decode()


def offered(body: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="partner_countries" value="(\w\w)"', body))


def test_several_countries_are_plain_checkboxes_that_work_without_javascript(client):
    person, body = page_3(client)
    assert {"US", "JP", "DE"} <= offered(body)
    assert '<select name="partner_countries"' not in body
    assert person.post_page(3, ALL_TYPES_ANSWERS[3]).status_code == 302
    assert sorted(
        str(a.country) for a in Answer.objects.filter(question__code="partner_countries")
    ) == ["CA", "US"]


def test_a_question_can_leave_out_europe_and_the_server_refuses_what_is_not_offered(client):
    person, body = page_3(client, exclude=["EUROPE"])
    assert {"US", "CA", "CN"} <= offered(body)
    assert not {"DE", "FR", "NO", "CH", "UA", "GB"} & offered(body)
    refused = person.post_page(3, {**ALL_TYPES_ANSWERS[3], "partner_countries": ["US", "DE"]})
    assert refused.status_code == 400
    assert "Select a valid choice" in refused.content.decode()


def test_a_question_can_offer_only_some_countries(client):
    _, body = page_3(client, countries=["US", "CA", "EU"])
    assert offered(body) == {"US", "CA"} | COUNTRY_GROUPS["EU"]
    assert len(COUNTRY_GROUPS["EU"]) == 27


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exclude": ["XX"]}, "'XX' is neither an ISO 3166 country code nor one of EU, EUROPE"),
        ({"countries": ["europe"]}, "'europe' is neither"),
        ({"countries": ["US"], "exclude": ["EU"]}, "use countries or exclude, not both"),
        ({"exclude": "EU"}, "wrong type"),
    ],
)
def test_unusable_country_limits_are_refused_with_the_path_of_the_question(options, message):
    errors = survey_file_validate(survey_with_partner_countries(**options))
    path = "pages[2].questions[1].options"  # partner_countries
    assert any(message in error and error.startswith(path) for error in errors), errors


def test_the_demo_asks_beyond_europe_without_listing_europe():
    demo_file = Path(demo.__file__).with_name("eccp-2019.yaml")
    data = yaml.safe_load(demo_file.read_text())
    assert survey_file_validate(data) == []
    targets = question_data(data, "target_countries")
    assert targets["options"]["exclude"] == ["EUROPE"]
    # Every country the published figures name beyond Europe is still offered.
    assert not set(demo.TARGET_COUNTRIES) & COUNTRY_GROUPS["EUROPE"]
    assert not set(demo.COOPERATION_COUNTRIES) & COUNTRY_GROUPS["EU"]


def test_please_specify_says_when_it_is_needed_without_javascript(client):
    survey = open_survey()
    invitation, token = invitation_with_token(survey)
    person = Respondent(client, invitation)
    person.open_link(token)
    body = person.page(1).content.decode()
    assert 'Please specify<span class="other-hint"> (only if you chose “Other”)</span>' in body
    # Not asked for when Other is not chosen.
    answers = {**ALL_TYPES_ANSWERS[1], "services": ["1"], "services-other": ""}
    assert person.post_page(1, answers).status_code == 302

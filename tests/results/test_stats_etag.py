"""Polling the stats API costs nothing when nothing changed: an ETag from the data version,
304 for If-None-Match, a new ETag as soon as an answer, a submission or a delivery changes the
data; filtered views cached by (survey, filters, data version)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from surveys.models import Delivery
from surveys.questionnaire.invitations import invitation_create
from surveys.questionnaire.responses import response_save_page, response_submit
from surveys.questionnaire.structure import questionnaire_load
from surveys.results.filters import StatsFilter
from surveys.results.statistics import survey_statistics
from surveys.results.summaries import survey_statistics_current
from tests.factories import BULK_ANSWERS, ContactFactory, OrganisationFactory, survey_from_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def survey() -> Any:
    survey = survey_from_file(slug="etag-stats", allow_edit_after_submit=True)
    for country in ("BE", "FR"):
        organisation = OrganisationFactory.create(country=country)
        ContactFactory.create(organisation=organisation)
        invitation_create(survey=survey, organisation=organisation, now=NOW)
    return survey


def url(**params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return "/api/surveys/etag-stats/stats/" + (f"?{query}" if query else "")


def answer_every_page(survey: Any) -> None:
    """Every page of the first invitation's response answered (BULK_ANSWERS), so that it can
    be submitted."""
    questionnaire = questionnaire_load(survey)
    invitation = survey.invitations.order_by("pk").first()
    for number, page in enumerate(questionnaire.pages, start=1):
        codes = {q.code for q in questionnaire.page_questions(page)}
        response_save_page(
            invitation=invitation,
            questionnaire=questionnaire,
            page=page,
            page_values={k: v for k, v in BULK_ANSWERS.items() if k.split("-")[0] in codes},
            next_page=number + 1,
            now=NOW,
        )


def save_first_page(survey: Any, **answers: Any) -> None:
    questionnaire = questionnaire_load(survey)
    response_save_page(
        invitation=survey.invitations.order_by("pk").first(),
        questionnaire=questionnaire,
        page=questionnaire.pages[0],
        page_values=answers,
        next_page=2,
        now=NOW,
    )


def test_an_unchanged_answer_is_a_304_and_costs_no_statistics(client, survey, staff_member):
    client.force_login(staff_member)
    first = client.get(url())
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('"') and first["Cache-Control"] == "private, no-cache"
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url(), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    # Session, user, role, survey, the data version and the waves: nothing grouped.
    # (+1 on a database cache: the sectors' rename counter.)
    assert len(queries) <= 8, [q["sql"] for q in queries]
    assert not any("GROUP BY" in q["sql"] for q in queries)
    # Any of several tags, or *, matches too.
    assert client.get(url(), HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304
    assert client.get(url(), HTTP_IF_NONE_MATCH="*").status_code == 304


@pytest.mark.parametrize(
    "change",
    ["page save", "submit", "delivery sent", "delivery bounced"],
)
def test_every_kind_of_change_gives_a_new_etag_and_new_figures(
    client, survey, staff_member, change
):
    client.force_login(staff_member)
    save_first_page(survey, size=1)
    invitation = survey.invitations.order_by("pk").first()
    delivery = Delivery.objects.create(
        invitation=invitation,
        contact=invitation.organisation.contacts.first(),
        kind=Delivery.Kind.INVITATION,
        status=Delivery.Status.SENT,
        sent_at=NOW,
        next_attempt_at=NOW,
        created_at=NOW,
    )
    before = client.get(url())
    if change == "page save":
        save_first_page(survey, size=3)
    elif change == "submit":
        answer_every_page(survey)
        response_submit(invitation=invitation, questionnaire=questionnaire_load(survey), now=NOW)
    elif change == "delivery sent":
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.QUEUED)
    else:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.BOUNCED)
    after = client.get(url(), HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after["ETag"] != before["ETag"]
    assert after.json() != before.json()
    assert after.json() == _json(survey_statistics(survey=survey))


def _json(stats: Any) -> Any:
    import json

    return json.loads(json.dumps(stats, default=str))


def test_etags_differ_by_filters_and_role(client, survey, staff_member, viewer_member):
    client.force_login(staff_member)
    tags = {client.get(url())["ETag"], client.get(url(country="BE"))["ETag"]}
    client.force_login(viewer_member)
    tags.add(client.get(url())["ETag"])
    assert len(tags) == 3
    # A filter that names nothing is still a 400, whatever If-None-Match says.
    refused = client.get(url(sector="Nothing"), HTTP_IF_NONE_MATCH="*")
    assert refused.status_code == 400


def test_a_repeated_filtered_view_is_read_from_the_cache_until_the_data_changes(survey):
    filters = StatsFilter(countries=("BE",), complete_only=True)
    first = survey_statistics_current(survey=survey, filters=filters)
    assert first == _json(survey_statistics(survey=survey, filters=filters))
    with CaptureQueriesContext(connection) as queries:
        again = survey_statistics_current(survey=survey, filters=filters)
    assert again == first
    assert not any("GROUP BY" in q["sql"] for q in queries), [q["sql"] for q in queries]
    answer_every_page(survey)
    response_submit(
        invitation=survey.invitations.order_by("pk").first(),
        questionnaire=questionnaire_load(survey),
        now=NOW,
    )
    changed = survey_statistics_current(survey=survey, filters=filters)
    assert changed["completed"] == 1 and changed != first
    assert changed == _json(survey_statistics(survey=survey, filters=filters))

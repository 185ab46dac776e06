"""GET /api/surveys/<slug>/stats/: the stats JSON, filtered by the query string, for the three
staff roles only."""

from datetime import UTC, datetime
from typing import Any

import pytest

from surveys.models import Response, Survey, Wave
from surveys.questionnaire.invitations import invitation_create
from surveys.results.filters import StatsFilter
from surveys.results.statistics import survey_statistics
from tests.factories import ContactFactory, OrganisationFactory, survey_from_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]


@pytest.fixture(autouse=True)
def no_small_cells(settings: Any) -> None:
    """These tests check every figure of fixtures of a few respondents, as any role sees them;
    what Viewers see of small cells is tests/results/test_small_cells.py's."""
    settings.SMALL_CELL_MINIMUM = 1


NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def survey() -> Survey:
    """Three invitations (two Belgian, one French); one Belgian complete, the French partial."""
    survey = survey_from_file(slug="api-stats")
    for country, submitted in (("BE", True), ("BE", None), ("FR", False)):
        organisation = OrganisationFactory.create(country=country)
        ContactFactory.create(organisation=organisation)
        invitation = invitation_create(survey=survey, organisation=organisation, now=NOW)
        if submitted is not None:
            Response.objects.create(
                invitation=invitation,
                survey=survey,
                started_at=NOW,
                last_saved_at=NOW,
                submitted_at=NOW if submitted else None,
            )
    return survey


def url(slug: str = "api-stats") -> str:
    return f"/api/surveys/{slug}/stats/"


@pytest.mark.parametrize("member", ["admin_member", "staff_member", "viewer_member"])
def test_every_staff_role_gets_the_stats_json(client, survey, member, request):
    client.force_login(request.getfixturevalue(member))
    response = client.get(url())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == survey_statistics(survey=survey)
    assert (response.json()["invited"], response.json()["completed"]) == (3, 1)
    # Live figures: never served from a cache.
    assert "no-cache" in response["Cache-Control"]


def test_an_account_without_a_role_is_refused(client, survey, outsider):
    client.force_login(outsider)
    response = client.get(url())
    assert response.status_code == 403
    assert "invited" not in response.json()


def test_anonymous_is_refused(client, survey):
    response = client.get(url())
    assert response.status_code in (401, 403)
    assert "invited" not in response.json()


def test_an_outsider_cannot_tell_which_surveys_exist(client, survey, outsider):
    client.force_login(outsider)
    assert client.get(url("no-such-survey")).status_code == 403


def test_unknown_survey_is_404(client, survey, viewer_member):
    client.force_login(viewer_member)
    assert client.get(url("no-such-survey")).status_code == 404


def test_query_parameters_filter_every_figure(client, survey, staff_member):
    client.force_login(staff_member)
    stats = client.get(url(), {"country": "be", "complete_only": "1"}).json()
    assert stats == survey_statistics(
        survey=survey, filters=StatsFilter(countries=("BE",), complete_only=True)
    )
    assert (stats["invited"], stats["started"], stats["completed"]) == (2, 1, 1)
    assert [row["code"] for row in stats["by_country"]] == ["BE"]
    assert stats["filters"]["country"] == ["BE"]
    assert stats["filters"]["complete_only"] is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"wave": "abc"}, "wave must be a wave id"),
        ({"wave": "123456789012345"}, "wave must be a wave id"),
        ({"country": "Belgium"}, "two-letter code"),
        ({"country": "QQ"}, "QQ is not an ISO 3166 country code"),
        ({"experience": "ancient"}, "experience must be one of"),
        ({"sector": "Nowhere"}, "no sector named 'Nowhere'"),
        ({"wave": "999999"}, "wave 999999 is not a wave of this survey"),
    ],
)
def test_a_bad_filter_is_a_400_with_a_message(client, survey, viewer_member, params, message):
    client.force_login(viewer_member)
    response = client.get(url(), params)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_wave_of_another_survey_is_a_bad_filter(client, survey, viewer_member):
    other = Wave.objects.create(survey=survey_from_file(slug="other"), name="Elsewhere")
    client.force_login(viewer_member)
    response = client.get(url(), {"wave": other.pk})
    assert response.status_code == 400
    assert response.json() == {"detail": f"wave {other.pk} is not a wave of this survey."}


def test_only_get(client, survey, admin_member):
    client.force_login(admin_member)
    assert client.post(url()).status_code == 405

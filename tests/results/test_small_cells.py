"""Small cells for Viewers (surveys/results/disclosure.py, docs/glossary.md Roles): a filter or a
breakdown row with fewer started responses than SMALL_CELL_MINIMUM shows "fewer than N" and no
per-question figure, in the dashboard, the stats API and the report. Staff and Admins see all."""

import pytest

from surveys.models import ClusterOrganisation, Survey
from surveys.results.disclosure import statistics_small_cells_suppress
from surveys.results.filters import StatsFilter
from surveys.results.statistics import survey_statistics
from tests.factories import open_survey, respond_in_bulk

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]


@pytest.fixture
def survey() -> Survey:
    """Five complete Belgian responses and one Maltese, every question answered."""
    survey = open_survey(slug="small-cells")
    respond_in_bulk(survey, 5)
    ClusterOrganisation.objects.update(country="BE")
    belgian = list(ClusterOrganisation.objects.values_list("pk", flat=True))
    respond_in_bulk(survey, 1)
    ClusterOrganisation.objects.exclude(pk__in=belgian).update(country="MT")
    return survey


def stats_json(client, user, query: str = "") -> dict:
    client.force_login(user)
    response = client.get(f"/api/surveys/small-cells/stats/{query}")
    assert response.status_code == 200
    return response.json()


def test_a_viewer_gets_no_figures_for_a_filter_of_fewer_than_five(client, survey, viewer_member):
    stats = stats_json(client, viewer_member, "?country=MT")
    assert stats["suppressed"] is True and stats["small_cell_minimum"] == 5
    assert stats["questions"] == [] and stats["timeline"]["days"] == []
    assert [stats[key] for key in ("started", "partial", "completed", "response_rate")] == [
        None
    ] * 4
    assert stats["invited"] == 1  # invitations are not answers


def test_a_viewer_gets_no_figures_for_a_breakdown_row_of_fewer_than_five(
    client, survey, viewer_member
):
    stats = stats_json(client, viewer_member)
    rows = {row["code"]: row for row in stats["by_country"]}
    assert rows["MT"]["suppressed"] is True
    assert [rows["MT"][k] for k in ("started", "completed", "participation_rate")] == [None] * 3
    assert rows["BE"]["started"] == 5 and "suppressed" not in rows["BE"]  # five is enough
    assert stats["started"] == 6 and stats["questions"]  # the whole set is not small


@pytest.mark.parametrize("member", ["staff_member", "admin_member"])
def test_staff_and_admins_see_every_figure(client, survey, member, request):
    stats = stats_json(client, request.getfixturevalue(member), "?country=MT")
    assert "suppressed" not in stats and stats["started"] == 1 and stats["questions"]
    assert stats == survey_statistics(survey=survey, filters=StatsFilter(countries=("MT",)))


def test_the_minimum_is_a_setting(client, survey, viewer_member, settings):
    settings.SMALL_CELL_MINIMUM = 1
    assert stats_json(client, viewer_member, "?country=MT")["started"] == 1
    settings.SMALL_CELL_MINIMUM = 7
    stats = stats_json(client, viewer_member)
    assert stats["suppressed"] and stats["small_cell_minimum"] == 7


def test_the_dashboard_says_fewer_than_five_to_a_viewer_only(
    client, survey, viewer_member, staff_member
):
    client.force_login(viewer_member)
    small = client.get("/staff/surveys/small-cells/?country=MT").content.decode()
    assert "fewer than 5" in small and 'data-stat-list="questions"' not in small
    whole = client.get("/staff/surveys/small-cells/").content.decode()
    assert "fewer than 5 started" in whole and 'data-stat-list="questions"' in whole
    client.force_login(staff_member)
    staff = client.get("/staff/surveys/small-cells/?country=MT").content.decode()
    assert "fewer than" not in staff and 'data-stat-list="questions"' in staff


def test_the_report_shows_a_viewer_no_question_or_quote_of_a_small_cell(
    client, survey, viewer_member, staff_member
):
    client.force_login(viewer_member)
    small = client.get("/staff/surveys/small-cells/report/?country=MT").content.decode()
    assert "fewer than 5" in small
    assert 'class="question question-' not in small and "More events" not in small
    client.force_login(staff_member)
    staff = client.get("/staff/surveys/small-cells/report/?country=MT").content.decode()
    assert 'class="question question-' in staff and "More events" in staff


def test_suppression_leaves_the_statistics_it_was_given_alone(survey):
    stats = survey_statistics(survey=survey)
    shown = statistics_small_cells_suppress(stats=stats, minimum=10)
    assert shown["suppressed"] and shown["started"] is None
    assert stats["started"] == 6 and "suppressed" not in stats
    assert statistics_small_cells_suppress(stats=stats, minimum=None) is stats


def test_a_selection_nobody_answered_points_at_nobody_and_shows_zero(client, survey, viewer_member):
    stats = stats_json(client, viewer_member, "?country=FR")
    assert stats["started"] == 0 and "suppressed" not in stats

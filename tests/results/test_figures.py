"""Figures that explain themselves (issue 10): every table of the dashboard downloads as CSV
holding the page's figures, every chart as SVG and PNG; a timeline of one day still reads;
maps fit their data (Europe when the organisations are European) and say what they count;
a date question's table says "Month" and dates read as words."""

import csv
import io
import itertools
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from surveys.models import Answer, Question, Response, Survey, Wave
from surveys.questionnaire.invitations import invitation_create
from surveys.results.charts import timeline_svg
from surveys.results.figures import TABLE_NAMES, dashboard_table
from surveys.results.statistics import survey_statistics
from surveys.results.worldmap import EUROPE, map_view_for, world_map_svg
from tests.factories import ContactFactory, OrganisationFactory, survey_from_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_small_cells(settings: Any) -> None:
    settings.SMALL_CELL_MINIMUM = 1


@pytest.fixture
def survey() -> Survey:
    """Three European invitations in one wave, all answered on one day (2 March 2026): a
    Belgian complete response, a French partial one, a German organisation that has not
    answered."""
    survey = survey_from_file(slug="figs")
    size = Question.objects.get(survey=survey, code="size")
    Wave.objects.create(survey=survey, name="Spring", status="launched", launched_at=NOW)
    for country, submitted, size_value in (("BE", True, 1), ("FR", False, 3), ("DE", None, 0)):
        organisation = OrganisationFactory.create(country=country, name=f"Org {country}")
        ContactFactory.create(organisation=organisation)
        invitation = invitation_create(survey=survey, organisation=organisation, now=NOW)
        if submitted is not None:
            response = Response.objects.create(
                invitation=invitation,
                survey=survey,
                started_at=NOW,
                last_saved_at=NOW,
                submitted_at=NOW if submitted else None,
            )
            Answer.objects.create(
                response=response, question=size, choice=size.choices.get(value=size_value)
            )
    return survey


@pytest.fixture
def viewer(client: Client, viewer_member: Any) -> Client:
    client.force_login(viewer_member)
    return client


def csv_rows(response: Any) -> list[list[str]]:
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def cell(value: Any) -> str:
    return "" if value is None else str(value)


def test_every_table_downloads_as_csv_with_the_figures_of_the_statistics(viewer, survey):
    stats = survey_statistics(survey=survey)
    names = [*TABLE_NAMES, *(f"q-{entry['id']}" for entry in stats["questions"])]
    for name in names:
        response = viewer.get(f"/staff/surveys/figs/tables/{name}.csv")
        assert response.status_code == 200, name
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert f'filename="figs-{name}.csv"' in response["Content-Disposition"]
        header, rows = dashboard_table(stats=stats, name=name)
        assert csv_rows(response) == [header, *([cell(v) for v in row] for row in rows)], name


def test_the_country_table_csv_equals_the_figures_row_by_row(viewer, survey):
    stats = survey_statistics(survey=survey)
    rows = csv_rows(viewer.get("/staff/surveys/figs/tables/by_country.csv"))
    header, body = rows[0], rows[1:]
    assert header[:2] == ["country", "code"]
    assert [row[1] for row in body] == [row["code"] for row in stats["by_country"]]
    for row, figures in zip(body, stats["by_country"], strict=True):
        as_dict = dict(zip(header, row, strict=True))
        for count in ("invited", "opened", "started", "completed"):
            assert as_dict[count] == str(figures[count])
        # A rate with nothing to divide is an empty cell, not 0.0.
        expected = "" if figures["started"] == 0 else str(figures["completion_rate"])
        assert as_dict["completion_rate"] == expected
    germany = dict(zip(header, body[[r[1] for r in body].index("DE")], strict=True))
    assert germany["started"] == "0" and germany["completion_rate"] == ""
    belgium = dict(zip(header, body[[r[1] for r in body].index("BE")], strict=True))
    assert belgium["response_rate"] == "100.0"


def test_a_table_csv_keeps_the_page_filters_and_refuses_a_bad_one(viewer, survey):
    rows = csv_rows(viewer.get("/staff/surveys/figs/tables/participation.csv?country=BE"))
    assert dict(rows[1:])["invited"] == "1"
    response = viewer.get("/staff/surveys/figs/tables/participation.csv?wave=999")
    assert response.status_code == 400
    assert viewer.get("/staff/surveys/figs/tables/nonsense.csv").status_code == 404


def test_every_chart_downloads_as_svg_and_png(viewer, survey):
    html = viewer.get("/staff/surveys/figs/").content.decode()
    links = re.findall(r'href="(/staff/surveys/figs/charts/[-\w]+\.(?:svg|png))"', html)
    names = {re.sub(r"\.(svg|png)$", "", link.rsplit("/", 1)[1]) for link in links}
    assert {"funnel", "map", "timeline", "q-size"} <= names
    for link in links:
        response = viewer.get(link)
        assert response.status_code == 200, link
        if link.endswith(".svg"):
            assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
            body = response.content.decode()
            assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')
            assert 'role="img"' in body
            # A downloaded map carries its outlines: no reference to the page's shared copy.
            assert "<use " not in body
        else:
            assert response["Content-Type"] == "image/png"
            image = Image.open(io.BytesIO(response.content))
            assert image.format == "PNG" and image.width >= 1000  # twice the chart's width
    assert viewer.get("/staff/surveys/figs/charts/nonsense.svg").status_code == 404


def test_a_one_day_timeline_names_the_day_and_shows_both_figures(viewer, survey):
    html = viewer.get("/staff/surveys/figs/").content.decode()
    timeline = html[html.index('data-chart="timeline"') :]
    timeline = timeline[: timeline.index("</svg>")]
    assert "All on 2 Mar 2026 (one day so far)" in timeline
    assert ">Started</text>" in timeline and ">Completed</text>" in timeline
    assert "2 started and 1 completed" in timeline  # its description
    # The days table reads as dates, not ISO codes.
    assert '<time datetime="2026-03-02">2 Mar 2026</time>' in html


def test_a_one_day_timeline_svg_has_no_column_chart():
    svg = timeline_svg(
        title="Per day",
        days=[{"date": "2026-03-02", "starts": 12, "completions": 5}],
        events=[{"date": "2026-03-02", "label": "40 invitations sent (Spring)"}],
    )
    assert "All on 2 Mar 2026 (one day so far)" in svg
    assert ">12</text>" in svg and ">5</text>" in svg
    assert "1. Sent that day: 40 invitations sent (Spring)" in svg
    assert "stroke-dasharray" not in svg  # no axis of one day with a send line on it
    longer = timeline_svg(
        title="Per day",
        days=[
            {"date": "2026-03-02", "starts": 12, "completions": 5},
            {"date": "2026-03-03", "starts": 1, "completions": 1},
        ],
    )
    assert "one day so far" not in longer


def test_maps_fit_their_data_and_say_what_they_count(viewer, survey):
    html = viewer.get("/staff/surveys/figs/").content.decode()
    participation = html[html.index('data-chart="map"') :]
    participation = participation[: participation.index("</svg>")]
    assert 'data-map-view="europe"' in participation
    assert "Organisations that started a response</text>" in participation  # the legend's title
    assert "Map of Europe." in participation
    assert map_view_for(["BE", "FR"]).name == "europe"
    assert map_view_for(["BE", "US"]).name == "world"
    assert map_view_for([]).name == "world"
    assert {"BE", "TR", "NO", "GB", "UA", "XK"} <= EUROPE
    world = world_map_svg(counts={"US": 3, "BE": 1}, title="T", legend_title="Respondents")
    assert 'data-map-view="world"' in world and ">Respondents</text>" in world


def test_experience_says_it_comes_from_the_founding_year(viewer, survey):
    html = viewer.get("/staff/surveys/figs/").content.decode()
    section = html[html.index('id="by-experience-heading"') :]
    section = section[: section.index("</table>")]
    assert "from the founding year" in section
    assert "not from an answer to the questionnaire" in section


def test_a_date_question_shows_months_and_dates_in_words(viewer):
    survey = survey_from_file("date_question.yaml", slug="dated")
    question = Question.objects.get(survey=survey, code="joined_on")
    for day, country in (("2024-05-31", "BE"), ("2019-01-15", "FR")):
        organisation = OrganisationFactory.create(country=country)
        invitation = invitation_create(survey=survey, organisation=organisation, now=NOW)
        response = Response.objects.create(
            invitation=invitation, survey=survey, started_at=NOW, last_saved_at=NOW
        )
        Answer.objects.create(response=response, question=question, text=day)
    html = viewer.get("/staff/surveys/dated/").content.decode()
    section = html[html.index(f'id="q-{question.code}"') :]
    assert '<th scope="col">Month</th>' in section[: section.index("</table>")]
    assert '<th scope="col">Answer</th>' not in section[: section.index("</table>")]
    assert '<time datetime="2019-01-15">15 January 2019</time>' in section
    assert '<time datetime="2024-05-31">31 May 2024</time>' in section


def test_the_long_dashboard_has_a_table_of_contents_linking_every_section(viewer, survey):
    html = viewer.get("/staff/surveys/figs/").content.decode()
    toc = html[html.index('<nav class="toc"') : html.index("</nav>", html.index('class="toc"'))]
    targets = re.findall(r'href="#([-\w]+)"', toc)
    for target in targets:
        assert f'id="{target}"' in html, target
    assert {"participation-heading", "timeline-heading", "questions-heading", "q-size"} <= set(
        targets
    )


def test_the_report_defines_its_rates_and_says_when_nothing_can_be_divided(viewer, survey):
    html = viewer.get("/staff/surveys/figs/report/").content.decode()
    assert "Participation rate: started ÷ invited, partial responses included." in html
    assert "Response rate: completed ÷ invited." in html
    assert "Completion rate: completed ÷ started." in html
    survey_from_file(slug="figs-empty")
    empty = viewer.get("/staff/surveys/figs-empty/report/").content.decode()
    figures = empty[empty.index('<dl class="headline-figures">') : empty.index("</dl>")]
    assert "no invitations yet" in figures and "no one started" in figures
    assert "0.0%" not in figures


def test_a_long_timeline_spaces_its_date_labels_so_they_never_overlap():
    from datetime import date, timedelta

    start = date(2026, 3, 2)
    days = [
        {"date": (start + timedelta(days=n)).isoformat(), "starts": n % 3, "completions": 0}
        for n in range(270)
    ]
    svg = timeline_svg(title="Per day", days=days)
    label = r'<text x="([\d.]+)" y="[\d.]+" fill="#4a4f55" text-anchor="middle" '
    ticks = [float(x) for x in re.findall(label + r'font-size="12">\d+ \w+</text>', svg)]
    assert len(ticks) >= 5
    assert all(b - a >= 50 for a, b in itertools.pairwise(ticks)), ticks

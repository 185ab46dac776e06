"""The staff dashboard: /staff/surveys/ and /staff/surveys/<slug>/, server-rendered, with the
live figures marked (data-stat) for dashboard.js, which refreshes them from the API, and charts
drawn on the server from the same figures."""

import gzip
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from io import StringIO
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from surveys.models import Answer, Question, Response, Survey, Wave
from surveys.questionnaire.invitations import invitation_create
from surveys.results.figures import date_label
from surveys.results.filters import StatsFilter
from surveys.results.statistics import survey_statistics
from surveys.results.stats_types import SurveyStatistics
from surveys.results.worldmap import world_map_data
from tests.factories import ContactFactory, OrganisationFactory, survey_from_file

if TYPE_CHECKING:  # the test client's response type exists in django-stubs only
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_questionnaire_cache")]


@pytest.fixture(autouse=True)
def no_small_cells(settings: Any) -> None:
    """These tests check every figure of fixtures of a few respondents, as any role sees them;
    what Viewers see of small cells is tests/results/test_small_cells.py's."""
    settings.SMALL_CELL_MINIMUM = 1


NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
DEFAULT_KEYS = ("id", "code", "band", "value", "date", "name")


class StatCells(HTMLParser):
    """Every data-stat element of a page with its scopes, read as dashboard.js reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, Any, Any]] = []
        self.cells: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        a = dict(attrs)
        scope = None
        if "data-stat-list" in a:
            scope = (a["data-stat-list"], a.get("data-stat-key") or "", a.get("data-stat-match"))
        cell = None
        if "data-stat" in a:
            scopes = tuple(s for _, s, _ in self.stack if s) + ((scope,) if scope else ())
            cell = {"scopes": scopes, "stat": a["data-stat"], "format": a.get("data-stat-format"),
                    "empty_if": a.get("data-stat-empty-if-zero"),
                    "empty_text": a.get("data-stat-empty-text"), "text": ""}  # fmt: skip
            self.cells.append(cell)
        self.stack.append((tag, scope, cell))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, _, cell in self.stack:
            if cell is not None:
                cell["text"] += data


def stat_cells(html: str) -> list[dict[str, Any]]:
    parser = StatCells()
    parser.feed(html)
    return parser.cells


def key_of(item: dict, fields: list[str] | None) -> str:
    if fields:
        return ",".join("" if item.get(f) is None else str(item[f]) for f in fields)
    for field in DEFAULT_KEYS:
        if field in item:
            return "" if item[field] is None else str(item[field])
    return ""


def scope_of(stats: Mapping[str, Any], cell: dict) -> Any:
    current: Any = stats
    for list_path, key, match in cell["scopes"]:
        items = current
        for part in list_path.split("."):
            items = items[part]
        fields = match.split(",") if match else None
        (current,) = [item for item in items if key_of(item, fields) == key]
    return current


def resolve(stats: Mapping[str, Any], cell: dict) -> Any:
    return scope_of(stats, cell)[cell["stat"]]


def shown(value: Any, how: str | None) -> str:
    if value is None:
        return "no answers" if how in ("mean", "date") else "\u2013"
    if how == "percent":
        return f"{value:.1f}"
    if how == "rate":
        return f"{value:.1f}%"
    if how == "mean":
        return f"{value:.2f}"
    if how == "date":
        return date_label(value, long=True)
    return str(value)


def assert_page_shows(html: str, stats: SurveyStatistics) -> int:
    """Every data-stat figure of the page is the JSON's, formatted as dashboard.js does; a
    rate whose denominator is zero shows its words instead."""
    cells = stat_cells(html)
    for cell in cells:
        scope = scope_of(stats, cell)
        expected = shown(scope[cell["stat"]], cell["format"])
        if cell["empty_if"] and scope[cell["empty_if"]] == 0:
            expected = cell["empty_text"]
        assert cell["text"].strip() == expected, cell
    return len(cells)


def headline_of(html: str) -> dict[str, str]:
    return {c["stat"]: c["text"].strip() for c in stat_cells(html) if not c["scopes"]}


@pytest.fixture
def survey() -> Survey:
    """Three invitations in one wave: a Belgian complete response, a French partial one (both
    answered the first question only), a German organisation that has not answered."""
    survey = survey_from_file(slug="dash")
    size = Question.objects.get(survey=survey, code="size")
    Wave.objects.create(survey=survey, name="Spring", status="launched", launched_at=NOW)
    for country, submitted, size_value in (("BE", True, 1), ("FR", False, 3), ("DE", None, 0)):
        organisation = OrganisationFactory.create(country=country, name=f"Secret cluster {country}")
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


def page(client: Client, slug: str = "dash", **params: Any) -> "TestResponse":
    return client.get(f"/staff/surveys/{slug}/", params)


def chart(html: str, kind: str, question: str | None = None) -> str:
    """The markup inside a chart's place (an SVG holds no div, so the first </div> ends it)."""
    opening = f'<div class="chart" data-chart="{kind}"'
    opening += f' data-question="{question}"' if question else ""
    # Focusable: a chart wider than a phone scrolls in its box, by keyboard too.
    opening += ' tabindex="0">'
    start = html.index(opening) + len(opening)
    return html[start : html.index("</div>", start)]


def svg_titles(markup: str) -> list[str]:
    """The <title> of each chart (role="img") in the markup, not the map's per-country titles."""
    return [
        part.split("<title", 1)[1].split(">", 1)[1].split("</title>", 1)[0]
        for part in markup.split('<svg xmlns="http://www.w3.org/2000/svg" role="img"')[1:]
    ]


# Who may see it ---------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["admin_member", "staff_member", "viewer_member"])
def test_staff_roles_see_the_dashboard_and_the_list(client, survey, member, request):
    client.force_login(request.getfixturevalue(member))
    assert page(client).status_code == 200
    # The list of surveys is the staff home now (surveys/console); the old address leads there.
    assert client.get("/staff/surveys/")["Location"] == "/staff/"
    listing = client.get("/staff/")
    assert listing.status_code == 200
    assert 'href="/staff/surveys/dash/overview/"' in listing.content.decode()


def test_an_account_without_a_role_is_refused(client, survey, outsider):
    client.force_login(outsider)
    assert page(client).status_code == 403
    assert client.get("/staff/surveys/").status_code == 403
    assert client.get("/staff/").status_code == 403


def test_anonymous_goes_to_the_login_page(client, survey):
    response = page(client)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/staff/surveys/dash/")


def test_unknown_survey_is_404(client, viewer_member):
    client.force_login(viewer_member)
    assert page(client, "nope").status_code == 404


def test_aggregate_figures_only_no_organisation_names(client, survey, viewer_member):
    client.force_login(viewer_member)
    assert "Secret cluster" not in page(client).content.decode()


# What it shows ----------------------------------------------------------------------------------


def test_the_survey_list_shows_invited_and_the_rates(client, survey, staff_member):
    survey_from_file(slug="empty-one", title="Nobody invited yet")
    client.force_login(staff_member)
    html = client.get("/staff/").content.decode()
    row = html[html.index('href="/staff/surveys/dash/overview/"') :].split("</tr>")[0]
    cells = [
        " ".join(re.sub(r"<[^>]+>", " ", cell.split(">", 1)[1].split("</td>")[0]).split())
        for cell in row.split('<td class="number"')[1:]
    ]
    # invited; response rate (completed); participation rate (started)
    assert cells == ["3", "33.3% (1)", "66.7% (2)"]
    empty = html[html.index("Nobody invited yet") :].split("</tr>")[0]
    assert "nobody invited" in empty


def test_every_live_figure_is_the_json_figure(client, survey, staff_member):
    client.force_login(staff_member)
    html = page(client).content.decode()
    assert assert_page_shows(html, survey_statistics(survey=survey)) > 50
    assert headline_of(html) == {
        "invited": "3",
        "emailed": "0",
        "opened": "0",
        "started": "2",
        "completed": "1",
        "partial": "1",
        "opted_out": "0",
        "failed": "0",
        "bounced": "0",
        "response_rate": "33.3%",
        "participation_rate": "66.7%",
        "completion_rate": "50.0%",
    }


def test_the_definitions_are_on_the_page(client, survey, viewer_member):
    client.force_login(viewer_member)
    html = page(client).content.decode()
    start = html.index('<details class="definitions">')
    details = html[start : html.index("</details>", start)]
    assert "<summary>How every figure is counted</summary>" in details
    for definition in (
        "Completed / invited.",
        "Started / invited (“took part”, partial responses included).",
        "Completed / started.",
        "At least one page saved (a response exists). Includes completed.",
        "Started and not submitted.",
        "Invitations with at least one email (invitation or reminder) sent.",
        "Invitations whose latest invitation email failed or bounced",
        "partial responses included unless “Complete responses only” is on",
        "rounded half up",
    ):
        assert definition in details, definition


def test_tables_are_captioned_with_header_scopes(client, survey, viewer_member):
    client.force_login(viewer_member)
    html = page(client).content.decode()
    tables = html.split("<table")[1:]
    assert len(tables) >= 5  # waves, countries, experience, sectors, days
    for table in tables:
        assert table.split(">", 1)[1].lstrip().startswith("<caption")
        assert 'scope="col"' in table and 'scope="row"' in table
    assert "<th>" not in html  # every header cell says what it heads


def test_question_bases_say_what_they_count(client, survey, viewer_member):
    client.force_login(viewer_member)
    everyone = page(client).content.decode()
    assert 'Answered by <span data-stat="base">2</span>; partial responses included.' in everyone
    complete = page(client, complete_only="1").content.decode()
    assert 'Answered by <span data-stat="base">1</span>; complete responses only.' in complete


def test_charts_are_drawn_from_the_figures(client, survey, viewer_member):
    client.force_login(viewer_member)
    html = page(client).content.decode()
    size = chart(html, "question", "size")
    assert svg_titles(size) == ["How many staff does your organisation have?"]
    # Labels and figures are printed, so the chart reads without colour.
    assert ">Fewer than 10</text>" in size and ">1 (50.0%)</text>" in size
    assert ">50 or more</text>" in size and ">0 (0.0%)</text>" in size
    funnel = chart(html, "funnel")
    assert svg_titles(funnel) == ["From invitation to response (share of the invited)"]
    for label, figures in (("Invited", "3 (100.0%)"), ("Opened the link", "0 (0.0%)"),
                           ("Started", "2 (66.7%)"), ("Completed", "1 (33.3%)")):  # fmt: skip
        assert f">{label}</text>" in funnel and f">{figures}</text>" in funnel
    # The map: the organisations that took part (started), by country.
    world = chart(html, "map")
    assert svg_titles(world) == ["Organisations that took part (started), by country"]
    # Countries are <use>s of the outlines the page holds once (see test_the_maps_share_...).
    assert '<use href="#world-outline-BE" data-country="BE" data-count="1"' in world
    assert "<title>Belgium: 1</title>" in world
    assert '<use href="#world-outline-FR" data-country="FR" data-count="1"' in world
    assert '<use href="#world-outline-DE" data-country="DE" fill=' in world  # nobody took part
    timeline = chart(html, "timeline")
    assert svg_titles(timeline) == ["Responses started and completed per day"]
    assert "2 started and 1 completed" in timeline
    # Questions nobody answered get no chart, only a note.
    assert 'data-question="sector"' not in html
    assert html.count('role="img"') == 4


def test_no_charts_without_figures(client, viewer_member):
    survey_from_file(slug="quiet")
    client.force_login(viewer_member)
    html = page(client, "quiet").content.decode()
    assert 'data-chart="funnel"' not in html
    assert 'data-chart="map"' not in html and 'data-chart="timeline"' not in html
    assert 'role="img"' not in html


def test_the_page_says_when_the_charts_were_drawn(client, survey, viewer_member):
    """dashboard.js shows this notice once the polled figures differ from the rendered ones:
    the charts are not redrawn live."""
    client.force_login(viewer_member)
    before = timezone.localtime()
    html = page(client).content.decode()
    after = timezone.localtime()
    notice = html[html.index('<p class="notice" data-live-reload hidden>') :].split("</p>")[0]
    assert "<span data-live-reload-rows hidden>New rows have appeared" in notice
    link = '<a href="/staff/surveys/dash/">reload to refresh charts</a>.'
    assert any(
        f"Charts updated at {moment:%H:%M} — {link}" in notice for moment in (before, after)
    ), notice


# The most queries one fold of a statistics summary makes (the first, a rebuild from every
# row, makes the most: 4 more per 20,000 invitations; on SQLite its contributions, six columns
# each, are inserted in batches of 166 rows, the 999 variables of a statement over six, which
# the demo's surveys fill a few times over)...
FOLD_QUERY_BOUND = 30


def test_charts_cost_no_query(client, survey, viewer_member, statistics_query_bound):
    """The page costs the statistics' queries plus a fixed few (session, role, survey, filter
    options), whatever the survey's size, and the demo stays within the statistics' bound."""
    call_command("load_eccp_demo", stdout=StringIO())
    client.force_login(viewer_member)
    overheads = []
    for slug, params, filters in (
        ("dash", {}, StatsFilter()),
        ("eccp-2019", {}, StatsFilter()),
        ("eccp-2019", {"country": "BE", "complete_only": "1"},
         StatsFilter(countries=("BE",), complete_only=True)),
    ):  # fmt: skip
        slug_survey = Survey.objects.get(slug=slug)
        survey_statistics(survey=slug_survey, filters=filters)  # the questionnaire cached
        with CaptureQueriesContext(connection):
            survey_statistics(survey=slug_survey, filters=filters)
        with CaptureQueriesContext(connection) as queries:
            html = page(client, slug, **params).content.decode()
        assert 'role="img"' in html
        # + the fold of the statistics summary (surveys/results/summaries.py): a fixed number of
        # bulk statements, here folding every row the demo load just wrote.
        assert len(queries) <= statistics_query_bound + 6 + FOLD_QUERY_BOUND
        # Again without new data: no statistics computed (the summary, or the cached view).
        with CaptureQueriesContext(connection) as again:
            page(client, slug, **params)
        overheads.append(len(again))
    assert overheads == [overheads[0]] * 3
    # Session, user, role, survey, filter options, the summary's version, the console frame's tabs.
    assert overheads[0] <= 13


def test_demo_dashboard_has_a_chart_per_question_and_the_maps(client, viewer_member):
    call_command("load_eccp_demo", stdout=StringIO())
    client.force_login(viewer_member)
    stats = survey_statistics(survey=Survey.objects.get(slug="eccp-2019"))
    html = page(client, "eccp-2019").content.decode()
    drawn = 0
    for q in stats["questions"]:
        if q["type"] == "long_text":
            assert f'data-question="{q["id"]}"' not in html  # written answers: no chart
            continue
        markup = chart(html, "question", q["id"])
        assert svg_titles(markup) == [escape(q["text"])], q["id"]
        drawn += 1
        if q["type"] == "country":
            assert 'class="chart world-map"' in markup
            shown = min(10, len(q["options"]))
            assert len(q["options"]) > 10
            assert f"Top {shown} of the {len(q['options'])} countries named" in html
            assert f"<summary>All {len(q['options'])} countries named</summary>" in html
        elif q["type"] == "matrix":
            assert 'class="chart scale-chart"' in markup
        else:
            assert 'class="chart bar-chart"' in markup
    assert drawn == 11
    assert 'class="chart world-map"' in chart(html, "map")
    timeline = chart(html, "timeline")
    # The wave and the two reminder sends are marked and listed under the chart.
    assert "invitations sent (" in timeline
    assert timeline.count("reminders sent") == 2 * 2  # in the description and the list
    assert html.count('role="img"') == drawn + 3  # with the funnel, the map and the timeline


def outline_ids(html: str) -> list[str]:
    return re.findall(r'<path id="(world-outline-[A-Z]{2})" d="', html)


def test_the_maps_share_one_copy_of_the_outlines_and_the_page_stays_small(client, admin_member):
    """The demo page has three world maps (participation, and two country questions): they
    used to carry the outlines each, 433 KB in all. Now every country of every map is a <use>
    of one outline the page holds once, with its own fill and title, and no map carries path
    data of its own."""
    call_command("load_eccp_demo", stdout=StringIO())
    client.force_login(admin_member)
    html = page(client, "eccp-2019").content.decode()

    ids = outline_ids(html)
    assert len(ids) == len(set(ids)) == len(world_map_data()["countries"]) - 1  # not Antarctica
    maps = re.findall(r'<svg [^>]*class="chart world-map".*?</svg>', html, flags=re.S)
    assert len(maps) == 3
    for markup in maps:
        assert "<path data-country=" not in markup
        references = re.findall(r'<use href="#([^"]+)" data-country="([A-Z]{2})"', markup)
        assert {ref for ref, _ in references} == set(ids)
        assert all(ref == f"world-outline-{code}" for ref, code in references)
    # Per country, as before: the figure in its title (the tooltip), its class's shade, and
    # for the lighter classes the texture that tells them apart without colour.
    assert "<title>Spain: 25</title></use>" in maps[0]
    assert re.search(
        r'<use href="#world-outline-AM" data-country="AM" data-count="3" class="map-class-1" '
        r'fill="#c6dbef"><title>Armenia: 3</title></use>'
        r'<use href="#world-outline-AM" fill="url\(#map-[0-9a-f]+-class-1\)" stroke="none"/>',
        maps[0],
    )
    assert len(html.encode()) < 300_000, len(html.encode())


def test_pages_are_gzipped_for_clients_that_accept_it_with_breach_padding(
    client, survey, viewer_member
):
    client.force_login(viewer_member)
    plain = page(client)
    zipped = client.get("/staff/surveys/dash/", HTTP_ACCEPT_ENCODING="gzip, deflate, br")

    assert "Content-Encoding" not in plain
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert len(zipped.content) < len(plain.content) / 3
    html = gzip.decompress(zipped.content).decode()
    assert 'data-chart="map"' in html and "world-outline-" in html
    # Django's "Heal The Breach": a random file name in the gzip header, so that the length
    # of a response tells an attacker less (the FNAME flag, RFC 1952).
    assert zipped.content[3] & 0x08


def test_live_updates_come_from_the_api_with_the_same_filters(client, survey, viewer_member):
    client.force_login(viewer_member)
    html = page(client, country="BE", complete_only="1").content.decode()
    assert 'data-stats-url="/api/surveys/dash/stats/?country=BE&amp;complete_only=1"' in html
    assert 'src="/static/surveys/dashboard.js"' in html
    assert 'http-equiv="refresh"' not in html.lower()
    api = client.get("/api/surveys/dash/stats/", {"country": "BE", "complete_only": "1"})
    assert_page_shows(html, api.json())


def test_filters_apply_to_everything_and_stay_selected(client, survey, viewer_member):
    client.force_login(viewer_member)
    html = page(client, country="FR").content.decode()
    assert headline_of(html)["invited"] == "1"
    assert headline_of(html)["started"] == "1"
    assert headline_of(html)["completed"] == "0"
    assert '<option value="FR" selected>France</option>' in html
    countries = [
        c for c in stat_cells(html) if c["scopes"][:1] and c["scopes"][0][0] == "by_country"
    ]
    assert {c["scopes"][0][1] for c in countries} == {"FR"}
    # Every country of the survey stays offered, whatever the filter.
    assert '<option value="BE">Belgium</option>' in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"wave": "abc"}, "wave must be a wave id"),
        ({"wave": "99999999999999"}, "wave must be a wave id"),
        ({"wave": "424242"}, "wave 424242 is not a wave of this survey"),
        ({"country": "ZZ"}, "ZZ is not an ISO 3166 country code"),
        ({"country": "Belgium"}, "two-letter code"),
        ({"experience": "old"}, "experience must be one of"),
        ({"sector": "Nowhere"}, "no sector named"),
    ],
)
def test_a_bad_filter_is_a_form_error_not_a_crash(client, survey, viewer_member, params, message):
    client.force_login(viewer_member)
    response = page(client, **params)
    assert response.status_code == 400
    html = response.content.decode()
    assert '<div class="error-summary" id="error-summary" role="alert"' in html
    assert message in html
    assert 'id="dashboard"' not in html  # no figures that would look filtered but are not
    assert 'href="/staff/surveys/dash/">Show the figures without filters</a>' in html


def test_no_invitations_yet(client, viewer_member):
    survey_from_file(slug="quiet")
    client.force_login(viewer_member)
    html = page(client, "quiet").content.decode()
    assert "No invitations yet." in html
    assert "No invitations yet, so no answers." in html
    assert "Nothing has happened yet" in html
    # Issue 10: nothing to divide, so no rate is a number.
    rates = headline_of(html)
    assert rates["response_rate"] == rates["participation_rate"] == "no invitations yet"
    assert rates["completion_rate"] == "no one started"
    dashboard = html[html.index('id="dashboard"') :]
    assert "0.0%" not in dashboard and "0.0" not in dashboard
    assert "\u2013" not in dashboard  # no en dash standing for a figure


def test_invitations_but_no_responses_yet(client, survey, viewer_member):
    Answer.objects.filter(response__survey=survey).delete()
    Response.objects.filter(survey=survey).delete()
    client.force_login(viewer_member)
    html = page(client).content.decode()
    assert "No invitations yet." not in html
    assert "No one started yet: no answers to show." in html
    # Issue 10: "no one started" where the completion rate has nothing to divide.
    rates = headline_of(html)
    assert rates["completion_rate"] == "no one started"
    assert rates["response_rate"] == "0.0%"  # invitations, none completed: a real 0
    by_country = html[html.index('id="by-country-caption"') :]
    assert "no one started" in by_country[: by_country.index("</table>")]
    assert "\u2013" not in html[html.index('id="dashboard"') :]


def test_filters_that_match_nothing_say_so(client, survey, viewer_member):
    client.force_login(viewer_member)
    html = page(client, experience="unknown").content.decode()
    assert "No invitations match these filters." in html


# The same numbers everywhere ----------------------------------------------------------------


def test_demo_numbers_agree_in_the_page_the_api_and_the_command(client, viewer_member):
    call_command("load_eccp_demo", stdout=StringIO())
    client.force_login(viewer_member)
    api = client.get("/api/surveys/eccp-2019/stats/").json()
    out = StringIO()
    call_command("survey_stats", "eccp-2019", stdout=out)
    command = json.loads(out.getvalue())
    html = page(client, "eccp-2019").content.decode()

    assert command == api
    assert (api["invited"], api["completed"], api["emailed"]) == (884, 200, 884)
    assert api["participation_rate"] == 27.1
    assert headline_of(html)["invited"] == "884"
    assert headline_of(html)["completed"] == "200"
    assert headline_of(html)["participation_rate"] == "27.1%"
    assert assert_page_shows(html, api) > 500
    for date, kind in (("2019-05-14", "wave"), ("2019-05-28", "reminder"),
                       ("2019-06-18", "reminder")):  # fmt: skip
        assert f'data-stat-key="{date},{kind},' in html


def test_each_rate_has_its_definition_beside_it_outside_any_collapsible(
    client, survey, viewer_member
):
    """Issue 10: definitions visible next to each rate, in the glossary's words, not behind a
    toggle."""
    client.force_login(viewer_member)
    html = page(client).content.decode()
    glossary = {
        "response_rate": ("Response rate", "completed ÷ invited"),
        "participation_rate": ("Participation rate", "started ÷ invited"),
        "completion_rate": ("Completion rate", "completed ÷ started"),
    }
    for name, (label, formula) in glossary.items():
        start = html.index(f'<div class="rate" id="rate-{name}">')
        box = html[start : html.index("</div>", start)]
        assert f"<dt>{label}</dt>" in box
        assert f"<strong>{formula}</strong>" in box
        assert "<details" not in html[html.rindex("<section", 0, start) : start]
    participation = html[html.index('id="rate-participation_rate"') :]
    assert "partial responses included" in participation[: participation.index("</div>")]
    # A collapsible that stays has a visible marker (dashboard.css): the words say so too.
    css = (settings.BASE_DIR / "surveys/static/surveys/dashboard.css").read_text()
    assert ".definitions summary::before" in css and 'content: "▸"' in css

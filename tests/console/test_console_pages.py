"""The staff console's pages (surveys/console): who sees organisations, the pseudonyms, the
filters in the query string, bad filters as 400s, and a fixed number of queries per list."""

import json
import re
from datetime import timedelta
from typing import cast

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse
from django.utils import timezone

from surveys.console import urls as console_urls
from surveys.console.pseudonyms import response_id_from_pseudonym, response_pseudonym
from surveys.models import (
    ClusterOrganisation,
    Delivery,
    Invitation,
    Response,
    Survey,
    Wave,
)
from surveys.outreach.waves import wave_create, wave_launch
from surveys.results.report import timeline_caption, timeline_chart
from surveys.results.statistics import survey_statistics
from surveys.results.stats_types import SurveyStatistics
from surveys.results.summaries import stats_summaries_fold_pending
from tests.factories import (
    invitation_with_token,
    open_survey,
    organisations_with_contacts,
    respond_in_bulk,
)
from tests.support.respondent import ALL_TYPES_ANSWERS, Respondent

pytestmark = pytest.mark.django_db

SECRET_NAME = "Secret Cluster Organisation"


@pytest.fixture
def survey() -> Survey:
    """An open survey with one submitted response by an organisation with a telling name, one
    partial response, and a launched wave."""
    survey = open_survey(slug="console")
    (named,) = organisations_with_contacts(1, prefix=SECRET_NAME)
    (other,) = organisations_with_contacts(1, prefix="Other org", country="FR")
    for organisation, pages in ((named, ALL_TYPES_ANSWERS), (other, {1: ALL_TYPES_ANSWERS[1]})):
        invitation, token = invitation_with_token(survey, organisation)
        person = Respondent(Client(), invitation)
        person.open_link(token)
        person.answer_all(pages)
        if len(pages) > 1:
            assert person.submit().status_code == 302
    wave_launch(wave=wave_create(survey=survey, name="First", filters={}), now=timezone.now())
    return survey


def _pages(slug: str, pseudonym: str) -> list[str]:
    return [
        f"/staff/surveys/{slug}/responses/",
        f"/staff/surveys/{slug}/responses/{pseudonym}/",
        f"/staff/surveys/{slug}/texts/suggestions/",
        f"/staff/surveys/{slug}/texts/partner_detail/",
    ]


def _submitted_pseudonym(survey: Survey) -> str:
    response = Response.objects.get(survey=survey, submitted_at__isnull=False)
    return response_pseudonym(survey_id=survey.pk, response_id=response.pk)


def test_staff_see_pseudonyms_and_never_organisation_names_of_responses(
    client, staff_member, survey
):
    client.force_login(staff_member)
    pseudonym = _submitted_pseudonym(survey)
    for url in _pages(survey.slug, pseudonym):
        body = client.get(url).content.decode()
        assert SECRET_NAME not in body, url
        assert pseudonym in body, url
        # No id that the admin would turn back into the organisation.
        assert "/admin/surveys/invitation/" not in body and "/admin/surveys/response/" not in body


def test_admins_see_the_organisation_of_each_response(client, admin_member, survey):
    client.force_login(admin_member)
    pseudonym = _submitted_pseudonym(survey)
    for url in _pages(survey.slug, pseudonym):
        assert SECRET_NAME in client.get(url).content.decode(), url


def test_an_open_text_answer_links_to_the_respondents_other_answers(client, staff_member, survey):
    client.force_login(staff_member)
    body = client.get(f"/staff/surveys/{survey.slug}/texts/suggestions/?q=EVENTS").content
    text = body.decode()
    # The match is marked in the answer.
    assert "More <mark>events</mark>" in text
    (link,) = re.findall(
        r'href="(/staff/surveys/console/responses/R[0-9A-F]{12}/)#q-suggestions"', text
    )
    response_page = client.get(link).content.decode()
    # The respondent's other answers, page by page.
    assert "MIT" in response_page and "10 to 49" in response_page
    assert (
        client.get(f"/staff/surveys/{survey.slug}/texts/suggestions/?q=nothing-like-it")
        .content.decode()
        .count("No answer contains")
        == 1
    )


def test_viewers_get_the_overview_but_not_the_responses(client, viewer_member, survey):
    client.force_login(viewer_member)
    assert client.get(f"/staff/surveys/{survey.slug}/overview/").status_code == 200
    for url in _pages(survey.slug, _submitted_pseudonym(survey)):
        assert client.get(url).status_code == 403, url
    # Their tabs are the ones they may open.
    overview = client.get(f"/staff/surveys/{survey.slug}/overview/").content.decode()
    assert "/responses/" not in overview and "/exports/" not in overview
    assert f'href="/staff/surveys/{survey.slug}/overview/" aria-current="page"' in overview


def test_the_pseudonym_is_a_keyed_permutation_per_survey():
    ids = [0, 1, 2, 77, 10**9, 2**48 - 1]
    pseudonyms = [response_pseudonym(survey_id=5, response_id=i) for i in ids]
    assert len(set(pseudonyms)) == len(ids)
    assert all(re.fullmatch(r"R[0-9A-F]{12}", p) for p in pseudonyms)
    assert [response_id_from_pseudonym(survey_id=5, pseudonym=p) for p in pseudonyms] == ids
    # Another survey: another pseudonym for the same id.
    assert response_pseudonym(survey_id=6, response_id=77) != pseudonyms[3]


def test_a_pseudonym_of_another_survey_is_not_found(client, admin_member, survey):
    client.force_login(admin_member)
    response = Response.objects.filter(survey=survey).first()
    foreign = response_pseudonym(survey_id=survey.pk + 1, response_id=response.pk)
    assert client.get(f"/staff/surveys/{survey.slug}/responses/{foreign}/").status_code in (404,)


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "to=2026-13-01",
        "from=2026-02-02&to=2026-02-01",
        "status=maybe",
        "wave=999999",
        "country=ZZ",
        "wave=x",
    ],
)
def test_a_filter_that_means_nothing_is_a_400_with_its_reason(client, staff_member, survey, query):
    client.force_login(staff_member)
    response = client.get(f"/staff/surveys/{survey.slug}/responses/?{query}")
    assert response.status_code == 400
    assert "This filter cannot be used" in response.content.decode()


def test_filters_narrow_the_responses_and_stay_in_the_links(client, staff_member, survey):
    client.force_login(staff_member)
    url = f"/staff/surveys/{survey.slug}/responses/"
    assert "2 of 2 responses" in client.get(url).content.decode()
    partial = client.get(url + "?status=partial&country=FR").content.decode()
    assert "1 of 2 responses match the filters" in partial
    assert "Partial" in partial
    nothing = client.get(url + "?country=BE&status=partial").content.decode()
    assert "No response matches these filters" in nothing


def _queries(client: Client, url: str) -> int:
    # The statistics (summaries.survey_statistics_current) measured folded but not cached:
    # folding costs what changed since the last fold, not what the survey holds.
    stats_summaries_fold_pending()
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "path",
    [
        "/staff/",
        "responses/",
        "texts/suggestions/",
        "outreach/",
        "organisations/",
        "outreach/deliveries/",
        "overview/",
    ],
)
def test_lists_take_the_same_number_of_queries_for_3_or_30_responses(client, admin_member, path):
    survey = open_survey(slug="counted")

    wave = wave_create(survey=survey, name="All", filters={})
    url = path if path.startswith("/") else f"/staff/surveys/{survey.slug}/{path}"
    client.force_login(admin_member)
    respond_in_bulk(survey, 3)
    wave_launch(wave=wave, now=timezone.now())
    _queries(client, url)  # the questionnaire's own queries, once per process (its cache)
    few = _queries(client, url)
    respond_in_bulk(survey, 27)
    open_survey(slug="counted-2")
    many = _queries(client, url)
    assert few == many, (few, many)


def test_a_viewer_sees_fewer_than_n_on_the_overview_of_a_small_cell(
    client, viewer_member, staff_member, survey
):
    """Two organisations started: below SMALL_CELL_MINIMUM (5), so a Viewer gets no figure of
    responses (surveys/results/disclosure.py), while Staff see them all."""
    url = f"/staff/surveys/{survey.slug}/overview/"
    client.force_login(viewer_member)
    viewer = client.get(url).content.decode()
    assert "Fewer than 5 organisations started a response" in viewer
    assert "50.0%" not in viewer and "33.3%" not in viewer  # completion, response rates
    client.force_login(staff_member)
    staff = client.get(url).content.decode()
    assert "Fewer than 5" not in staff and "50.0%" in staff


def test_the_root_sends_members_to_the_console_and_others_to_the_sign_in(
    client, staff_member, viewer_member, outsider
):
    assert client.get("/")["Location"] == "/admin/login/?next=/staff/"
    for member in (staff_member, viewer_member):
        client.force_login(member)
        assert client.get("/")["Location"] == "/staff/"
    client.force_login(outsider)
    assert client.get("/")["Location"] == "/admin/login/?next=/staff/"


def test_the_sign_in_page_is_the_services_and_the_admin_leads_back_to_the_console(
    client, staff_member
):
    login = client.get("/admin/login/?next=/staff/").content.decode()
    assert "Django" not in login
    assert "<h1>Sign in to the ECCP survey</h1>" in login
    client.force_login(staff_member)
    index = client.get("/admin/").content.decode()
    assert 'href="/staff/"' in index and "Django administration" not in index


def test_staff_do_not_learn_which_organisation_answered_from_the_organisations_tab(
    client, staff_member, admin_member, survey
):
    """Beside the Responses filters (status, country), a per-organisation "complete" would name
    the organisation behind a pseudonym: Staff see whether the link was opened, Admins more."""
    url = f"/staff/surveys/{survey.slug}/organisations/"
    client.force_login(staff_member)
    staff = client.get(url).content.decode()
    assert SECRET_NAME in staff  # Staff see organisations ...
    row = staff[staff.index(SECRET_NAME) :].split("</tr>")[0]
    assert "Link opened" in row and "Complete" not in row  # ... not whether they answered
    assert "/responses/R" not in staff
    assert client.get(url + "?state=complete").status_code == 400
    client.force_login(admin_member)
    admin = client.get(url + "?state=complete").content.decode()
    row = admin[admin.index(SECRET_NAME) :].split("</tr>")[0]
    assert "Complete" in row and f"/staff/surveys/{survey.slug}/responses/R" in row
    assert "Partial org" not in admin


# The overview's figures and timeline -----------------------------------------------------------


def test_the_overview_shows_the_figures_of_the_full_computation(client, staff_member, survey):
    """The overview reads the summaries (survey_statistics_current); its figures are those of
    survey_statistics, the reference, after every kind of change the fixture made."""
    client.force_login(staff_member)
    Invitation.objects.filter(survey=survey, response__isnull=True).update(
        opted_out_at=timezone.now()
    )
    for _ in range(2):  # computed, then from the cache
        shown = client.get(f"/staff/surveys/{survey.slug}/overview/").context["stats"]
        assert json.loads(json.dumps(shown)) == json.loads(
            json.dumps(survey_statistics(survey=survey))
        )
    assert shown["started"] == 2 and shown["completed"] == 1


TIMELINES = {
    "one day": ([{"date": "2026-03-02", "starts": 2, "completions": 1}], []),
    "one day with a send": (
        [{"date": "2026-03-02", "starts": 2, "completions": 1}],
        [{"date": "2026-03-02", "kind": "wave", "emails": 3, "name": "First"}],
    ),
    "days": (
        [
            {"date": "2026-03-02", "starts": 2, "completions": 0},
            {"date": "2026-03-05", "starts": 1, "completions": 2},
        ],
        [],
    ),
    "a send on the day before": (
        [{"date": "2026-03-02", "starts": 2, "completions": 1}],
        [{"date": "2026-03-01", "kind": "wave", "emails": 3, "name": "First"}],
    ),
}


@pytest.mark.parametrize("case", TIMELINES)
def test_the_timeline_caption_says_what_is_drawn(case):
    days, events = TIMELINES[case]
    stats = cast(SurveyStatistics, {"timeline": {"days": days, "events": events}})
    chart, caption = str(timeline_chart(stats)), timeline_caption(stats)
    single = "single-day" in chart
    assert single == ("one day" in case)
    assert ("columns" in caption and "line" in caption) == (not single)
    assert ("one day" in caption and "two bars" in caption) == single
    assert ("emails sent" in caption or "emails were sent" in caption) == bool(events)


def test_the_overview_of_a_single_day_says_so_under_its_chart(client, staff_member, survey):
    client.force_login(staff_member)
    page = client.get(f"/staff/surveys/{survey.slug}/overview/").content.decode()
    caption = re.search(r"<figcaption[^>]*>(.*?)</figcaption>", page, re.S)
    assert "single-day" in page and caption is not None
    assert "one day" in caption.group(1) and "columns" not in caption.group(1)


# Who answered stays hidden from Staff ------------------------------------------------------------

FIRST, SECOND = "Alpha Cluster", "Beta Cluster"


@pytest.fixture
def reminded() -> Survey:
    """Two organisations of one country, invited at the same moment, both opened their link:
    the first submitted (its one reminder was cancelled: "response already submitted"), the
    second saved a page and got two reminders."""
    survey = open_survey(slug="reminded")
    now = timezone.now()
    wave = Wave.objects.create(
        survey=survey, name="Only wave", status=Wave.Status.LAUNCHED, launched_at=now
    )
    first, second = (organisations_with_contacts(1, prefix=name)[0] for name in (FIRST, SECOND))
    for organisation, pages in ((first, ALL_TYPES_ANSWERS), (second, {1: ALL_TYPES_ANSWERS[1]})):
        invitation, token = invitation_with_token(survey, organisation)
        contact = organisation.contacts.get()
        invitation.contacts.add(contact)
        person = Respondent(Client(), invitation)
        person.open_link(token)
        person.answer_all(pages)
        if len(pages) > 1:
            assert person.submit().status_code == 302
        emails = [(Delivery.Kind.INVITATION, 0, Delivery.Status.SENT, "")]
        emails += (
            [(Delivery.Kind.REMINDER, 1, Delivery.Status.CANCELLED, "response already submitted")]
            if len(pages) > 1
            else [(Delivery.Kind.REMINDER, n, Delivery.Status.SENT, "") for n in (1, 2)]
        )
        for kind, number, status, error in emails:
            when = now - timedelta(days=20 - 7 * number)
            Delivery.objects.create(
                invitation=invitation,
                contact=contact,
                wave=wave if kind == Delivery.Kind.INVITATION else None,  # as reminders_create_due
                kind=kind,
                reminder_number=number,
                status=status,
                last_error=error,
                sent_at=when if status == Delivery.Status.SENT else None,
                next_attempt_at=when,
                created_at=when,
                attempts=1,
            )
    return survey


def _swap_organisations(first: str, second: str) -> None:
    """Give each organisation (and its contact) the other's name and address: the world in
    which the other one answered and was reminded. Through temporary values, for the
    unique ones."""
    one = ClusterOrganisation.objects.get(name__startswith=first)
    two = ClusterOrganisation.objects.get(name__startswith=second)
    one_contact, two_contact = one.contacts.get(), two.contacts.get()
    swaps = [
        (one, "name", two.name),
        (two, "name", one.name),
        (one_contact, "email", two_contact.email),
        (two_contact, "email", one_contact.email),
    ]
    for number, (row, field, _) in enumerate(swaps):
        setattr(row, field, f"swapping{number}@example.org")
        row.save(update_fields=[field])
    for row, field, value in swaps:
        setattr(row, field, value)
        row.save(update_fields=[field])


def _console_pages(survey: Survey) -> list[str]:
    """Every page of surveys/console/urls.py (generated from the URL conf: a new page is in),
    for this survey, with the variants that list reminders."""
    response = Response.objects.filter(survey=survey).first()
    assert response is not None
    values = {
        "slug": survey.slug,
        "wave_id": Wave.objects.get(survey=survey).pk,
        "pseudonym": response_pseudonym(survey_id=survey.pk, response_id=response.pk),
        "code": "suggestions",
    }
    urls = []
    for pattern in console_urls.urlpatterns:
        assert isinstance(pattern, URLPattern) and pattern.name
        arguments = set(pattern.pattern.regex.groupindex)
        assert arguments <= set(values), f"{pattern.name}: no value for {arguments}"
        urls.append(reverse(f"surveys:{pattern.name}", kwargs={k: values[k] for k in arguments}))
    deliveries = reverse("surveys:survey_deliveries", kwargs={"slug": survey.slug})
    urls += [f"{deliveries}?kind=reminder", f"{deliveries}?status=cancelled"]
    return urls


def _as_seen(client: Client, url: str) -> tuple[str, list[str]]:
    """The page, with its table rows taken out and sorted: rows in another order (by name,
    by id) are the same page."""
    response = client.get(url)
    assert response.status_code == 200, url
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    # An organisation's admin page (its profile and contacts) is reached by its id, which the
    # swap leaves with the other name.
    body = re.sub(r"/clusterorganisation/\d+/", "/clusterorganisation/ID/", body)
    rows = re.findall(r"<tr>.*?</tr>", body, re.S)
    return re.sub(r"<tr>.*?</tr>", "", body, flags=re.S), sorted(
        re.sub(r"\s+", " ", row) for row in rows
    )


def test_staff_cannot_tell_which_organisation_answered_from_its_emails(
    client, staff_member, admin_member, reminded
):
    """Every console page, as Staff, is the same whichever of two like organisations answered
    (and so stopped getting reminders): swapping their names changes nothing Staff see.
    Admins, who may know, see the difference: the comparison has teeth."""
    pages = _console_pages(reminded)
    client.force_login(staff_member)
    staff_before = {url: _as_seen(client, url) for url in pages}
    client.force_login(admin_member)
    admin_before = {url: _as_seen(client, url) for url in pages}
    # The Staff pages do name both organisations: not a page that hides everything.
    organisations = reverse("surveys:survey_organisations", kwargs={"slug": reminded.slug})
    for name in (FIRST, SECOND):
        assert name in "".join(staff_before[organisations][1])

    _swap_organisations(FIRST, SECOND)

    client.force_login(staff_member)
    for url in pages:
        assert _as_seen(client, url) == staff_before[url], url
    client.force_login(admin_member)
    changed = [url for url in pages if _as_seen(client, url) != admin_before[url]]
    assert organisations in changed
    assert any("/outreach/" in url for url in changed)

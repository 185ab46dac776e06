"""The console's pages: the staff home and the tabs of a survey's area that are not results'
(Results, Exports and Report are surveys.results' pages in the same frame,
templates/staff/survey_base.html).

Who sees what (docs/glossary.md, Roles): the home and the Overview are for Admins, Staff and
Viewers (a Viewer's small cells suppressed as on the dashboard); responses, open-text answers,
outreach and organisations for Admins and Staff. A response is named by the organisation for
Admins only; everyone else sees its pseudonym (surveys/console/pseudonyms.py), which is also
what its address holds, for Admins too, so that a shared link identifies nobody.

Filters travel in the query string, so every list is a link to share. A filter that cannot be
read (a date that is not one, a wave of another survey) answers 400 with the reason on the
page, never a 500 or a silently unfiltered list."""

import re
from datetime import date
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.roles import ADMIN, STAFF, VIEWER, role_required, user_has_role
from surveys.console import selectors
from surveys.console.pseudonyms import (
    PseudonymError,
    response_id_from_pseudonym,
    response_pseudonym,
)
from surveys.models import Delivery, Question, Response, Survey, Wave
from surveys.questionnaire.structure import (
    answers_for_response,
    display_value,
    questionnaire_load,
    visible_answers,
)
from surveys.results.charts import bar_chart_svg
from surveys.results.disclosure import small_cell_minimum_for, statistics_small_cells_suppress
from surveys.results.filters import StatsFilterError, stats_filter_check, stats_filter_from_params
from surveys.results.report import timeline_caption, timeline_chart
from surveys.results.statistics import percent, survey_filter_options
from surveys.results.summaries import survey_statistics_current

SURVEYS_PER_PAGE = 25
ROWS_PER_PAGE = 50
FUNNEL_STEPS = (
    ("invited", "Invited"),
    ("emailed", "Emailed"),
    ("opened", "Opened the link"),
    ("started", "Started"),
    ("completed", "Completed"),
)


def _page(request: HttpRequest, rows: Any, per_page: int) -> Page:
    # get_page: a page number that is not one, or beyond the end, shows the nearest page.
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def _is_admin(request: HttpRequest) -> bool:
    return user_has_role(request.user, ADMIN)


def _search(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:200].replace("\x00", "")


# The staff home ---------------------------------------------------------------------------------


@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def staff_home(request: HttpRequest) -> HttpResponse:
    search = _search(request)
    page = _page(request, selectors.survey_rows(search=search), SURVEYS_PER_PAGE)
    rows = [{"survey": survey, **selectors.survey_row_rates(survey)} for survey in page]
    context = {
        "page": page,
        "rows": rows,
        "search": search,
        "any_survey": bool(rows) or Survey.objects.exists(),
    }
    return render(request, "staff/console/home.html", context)


def home(request: HttpRequest) -> HttpResponse:
    """`/`: a signed-in member of a role to the staff home, anyone else to the login page."""
    if user_has_role(request.user, ADMIN, STAFF, VIEWER):
        return redirect("surveys:staff_home")
    return redirect(f"{reverse('admin:login')}?next={reverse('surveys:staff_home')}")


# Overview ---------------------------------------------------------------------------------------


@role_required(ADMIN, STAFF, VIEWER)
@require_GET
def survey_overview(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    stats = statistics_small_cells_suppress(
        # The unfiltered figures from the summaries (exact: tests/results/test_summaries_exact.py).
        stats=survey_statistics_current(survey=survey),
        minimum=small_cell_minimum_for(request.user),
    )
    invited = stats["invited"]
    funnel = [
        {
            "key": key,
            "label": label,
            "count": stats[key],  # type: ignore[literal-required]  # keys of FUNNEL_STEPS
            "percent": None
            if stats[key] is None  # type: ignore[literal-required]  # keys of FUNNEL_STEPS
            else percent(stats[key], invited),  # type: ignore[literal-required]  # same keys
        }
        for key, label in FUNNEL_STEPS
    ]
    funnel_chart = (
        bar_chart_svg(
            title="From invitation to response (share of the invited)",
            rows=[row for row in funnel if row["count"] is not None],
        )
        if invited
        else None
    )
    context = {
        "survey": survey,
        "stats": stats,
        "funnel": funnel,
        "funnel_chart": funnel_chart,
        "timeline": timeline_chart(stats),
        "timeline_caption": timeline_caption(stats),
        "attention": selectors.survey_attention(survey=survey, now=timezone.now()),
        "may_act": user_has_role(request.user, ADMIN, STAFF),
        "now": timezone.now(),
    }
    return render(request, "staff/console/overview.html", context)


# Responses --------------------------------------------------------------------------------------


def _date(request: HttpRequest, key: str, label: str) -> date | None:
    value = request.GET.get(key, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise StatsFilterError(
            f"{label} must be a date as YYYY-MM-DD (not {value[:40]!r})."
        ) from None


def _response_filter(request: HttpRequest, survey: Survey) -> selectors.ResponseFilter:
    stats = stats_filter_from_params(request.GET)
    stats_filter_check(survey=survey, filters=stats)
    status = request.GET.get("status", "")
    if status and status not in selectors.RESPONSE_STATUSES:
        raise StatsFilterError("status must be complete or partial.")
    started_from = _date(request, "from", "Started from")
    started_to = _date(request, "to", "Started until")
    if started_from and started_to and started_to < started_from:
        raise StatsFilterError("Started until is before Started from.")
    return selectors.ResponseFilter(
        stats=stats, status=status, started_from=started_from, started_to=started_to
    )


def _pseudonym(survey: Survey, response_id: int) -> str:
    return response_pseudonym(survey_id=survey.pk, response_id=response_id)


@role_required(ADMIN, STAFF)
@require_GET
def survey_responses(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    identified = _is_admin(request)
    error = ""
    try:
        filters = _response_filter(request, survey)
    except StatsFilterError as problem:
        error = str(problem)
        filters = selectors.ResponseFilter()
    page = _page(request, selectors.response_rows(survey=survey, filters=filters), ROWS_PER_PAGE)
    responses = list(page)
    waves = selectors.response_waves(responses=responses)
    rows = [
        {
            "response": response,
            "pseudonym": _pseudonym(survey, response.pk),
            "organisation": response.invitation.organisation if identified else None,
            "waves": waves.get(response.pk, []),
        }
        for response in responses
    ]
    options = survey_filter_options(survey=survey)
    context = {
        "survey": survey,
        "page": page,
        "rows": rows,
        "identified": identified,
        "error": error,
        "filtered": not filters.is_empty,
        "options": {
            "waves": [(str(pk), name) for pk, name in options["waves"]],
            "countries": options["countries"],
            "sectors": options["sectors"],
            "statuses": list(selectors.RESPONSE_STATUSES.items()),
        },
        "selected": {
            "wave": request.GET.get("wave", ""),
            "country": request.GET.get("country", "").upper(),
            "sector": request.GET.get("sector", ""),
            "status": request.GET.get("status", ""),
            "from": request.GET.get("from", ""),
            "to": request.GET.get("to", ""),
        },
        "total": survey.responses.count(),
        "text_questions": selectors.open_text_questions(survey=survey),
    }
    return render(request, "staff/console/responses.html", context, status=400 if error else 200)


def _response_or_404(survey: Survey, pseudonym: str) -> Response:
    try:
        response_id = response_id_from_pseudonym(survey_id=survey.pk, pseudonym=pseudonym)
    except PseudonymError:
        raise Http404("No such response.") from None
    return get_object_or_404(
        Response.objects.select_related("invitation__organisation"), pk=response_id, survey=survey
    )


@role_required(ADMIN, STAFF)
@require_GET
def survey_response(request: HttpRequest, slug: str, pseudonym: str) -> HttpResponse:
    """One response's answers, a section per questionnaire page, as the respondent's review
    shows them (questions hidden by a condition left out, unanswered ones said so)."""
    survey = get_object_or_404(Survey, slug=slug)
    response = _response_or_404(survey, pseudonym)
    questionnaire = questionnaire_load(survey)
    answers = visible_answers(questionnaire, answers_for_response(response, questionnaire))
    sections = []
    for number, page in enumerate(questionnaire.pages, start=1):
        items = [
            {"question": q, "lines": display_value(q, answers)}
            for q in questionnaire.visible_questions(page, answers)
        ]
        if items:
            sections.append({"page": page, "number": number, "items": items})
    newer, older = selectors.response_neighbours(response=response)
    context = {
        "survey": survey,
        "response": response,
        "pseudonym": pseudonym,
        "newer": _pseudonym(survey, newer) if newer else None,
        "older": _pseudonym(survey, older) if older else None,
        "organisation": response.invitation.organisation if _is_admin(request) else None,
        "sections": sections,
        "waves": selectors.response_waves(responses=[response]).get(response.pk, []),
        "open_text_codes": {
            q.code for q in questionnaire.questions if q.type in selectors.OPEN_TEXT_TYPES
        },
    }
    return render(request, "staff/console/response.html", context)


@role_required(ADMIN, STAFF)
@require_GET
def survey_texts(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    context = {"survey": survey, "questions": selectors.open_text_questions(survey=survey)}
    return render(request, "staff/console/texts.html", context)


@role_required(ADMIN, STAFF)
@require_GET
def survey_text_answers(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """Every written answer to one open-text question, with search and paging; each links to
    the respondent's other answers."""
    survey = get_object_or_404(Survey, slug=slug)
    question = get_object_or_404(
        Question, survey=survey, code=code, type__in=selectors.OPEN_TEXT_TYPES
    )
    search = _search(request)
    page = _page(
        request, selectors.open_text_answers(question=question, search=search), ROWS_PER_PAGE
    )
    identified = _is_admin(request)
    rows = [
        {
            "answer": answer,
            "pseudonym": _pseudonym(survey, answer.response_id),
            "organisation": answer.response.invitation.organisation if identified else None,
            "parts": _marked(answer.text, search),
        }
        for answer in page
    ]
    context = {
        "survey": survey,
        "question": question,
        "page": page,
        "rows": rows,
        "search": search,
        "identified": identified,
        "questions": selectors.open_text_questions(survey=survey),
    }
    return render(request, "staff/console/text_answers.html", context)


def _marked(text: str, search: str) -> list[tuple[str, bool]]:
    """The text cut into (part, is a match of the search) pairs, for <mark> in the template
    (escaped there like any text). Case-insensitive, as the search."""
    if not search:
        return [(text, False)]
    parts = re.split(f"({re.escape(search)})", text, flags=re.IGNORECASE)
    return [(part, index % 2 == 1) for index, part in enumerate(parts) if part]


# Outreach ---------------------------------------------------------------------------------------


@role_required(ADMIN, STAFF)
@require_GET
def survey_outreach(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    now = timezone.now()
    context = {
        "survey": survey,
        "waves": selectors.wave_rows(survey=survey),
        "statuses": selectors.DELIVERY_STATUSES,
        "reminders": selectors.reminder_counts(survey=survey),
        "attention": selectors.survey_attention(survey=survey, now=now),
        "templates": selectors.email_templates(survey=survey),
        "accepts_answers": survey.accepts_answers(now),
    }
    return render(request, "staff/console/outreach.html", context)


@role_required(ADMIN, STAFF)
@require_GET
def survey_wave(request: HttpRequest, slug: str, wave_id: int) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    wave = get_object_or_404(Wave.objects.select_related("template"), pk=wave_id, survey=survey)
    row = next(row for row in selectors.wave_rows(survey=survey) if row["wave"].pk == wave.pk)
    page = _page(request, selectors.delivery_rows(survey=survey, wave_id=wave.pk), ROWS_PER_PAGE)
    context = {
        "survey": survey,
        "wave": wave,
        "row": row,
        "statuses": selectors.DELIVERY_STATUSES,
        "page": page,
        **_delivery_rows_shown(request, page),
        "filters": _wave_filters_described(wave),
    }
    return render(request, "staff/console/wave.html", context)


def _delivery_rows_shown(request: HttpRequest, page: Page) -> dict[str, Any]:
    """A page of emails (`deliveries`), each with whether its organisation and contact may be
    shown to this member (selectors.delivery_names_organisation), and whether any is not
    (`withheld`)."""
    identified = _is_admin(request)
    rows = [
        {
            "delivery": delivery,
            "named": selectors.delivery_names_organisation(delivery, identified=identified),
        }
        for delivery in page
    ]
    return {"deliveries": rows, "withheld": any(not row["named"] for row in rows)}


def _wave_filters_described(wave: Wave) -> list[str]:
    """The wave's filters (surveys.outreach.waves.wave_filters_clean's keys) in words."""
    filters = wave.filters or {}
    described = []
    if filters.get("countries"):
        described.append("Countries: " + ", ".join(map(str, filters["countries"])))
    if "is_cosme" in filters:
        described.append("COSME countries only" if filters["is_cosme"] else "Outside COSME only")
    if filters.get("sectors"):
        described.append("Sectors: " + ", ".join(map(str, filters["sectors"])))
    if filters.get("external_ids"):
        described.append(f"{len(filters['external_ids'])} organisations chosen by external id")
    if filters.get("not_yet_invited"):
        described.append("Not yet invited")
    if filters.get("not_responded"):
        described.append("Has not completed")
    return described or ["Every organisation with a contact that email reaches"]


@role_required(ADMIN, STAFF)
@require_GET
def survey_deliveries(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    wave_value = request.GET.get("wave", "")
    error = ""
    wave_id: int | None = None
    if status and status not in selectors.DELIVERY_STATUSES:
        error, status = f"status must be one of {', '.join(selectors.DELIVERY_STATUSES)}.", ""
    if kind and kind not in Delivery.Kind.values:
        error, kind = "kind must be invitation or reminder.", ""
    if wave_value:
        try:
            stats = stats_filter_from_params({"wave": wave_value})
            stats_filter_check(survey=survey, filters=stats)
            wave_id = stats.waves[0]
        except (StatsFilterError, IndexError) as problem:
            error = str(problem) or "wave must be a wave of this survey."
    rows = selectors.delivery_rows(survey=survey, status=status, kind=kind, wave_id=wave_id)
    page = _page(request, rows, ROWS_PER_PAGE)
    context = {
        "survey": survey,
        "page": page,
        **_delivery_rows_shown(request, page),
        "error": error,
        "statuses": [(value, label) for value, label in Delivery.Status.choices],
        "kinds": Delivery.Kind.choices,
        "waves": list(
            Wave.objects.filter(survey=survey).order_by("created_at").values_list("pk", "name")
        ),
        "selected": {"status": status, "kind": kind, "wave": str(wave_id or "")},
    }
    return render(request, "staff/console/deliveries.html", context, status=400 if error else 200)


# Organisations ----------------------------------------------------------------------------------


@role_required(ADMIN, STAFF)
@require_GET
def survey_organisations(request: HttpRequest, slug: str) -> HttpResponse:
    """The invited organisations and where each stands. Admins see whether each answered and
    reach its response; Staff see organisations (docs/glossary.md) but only whether the link
    was opened or the organisation opted out: answers stay apart, under pseudonyms."""
    survey = get_object_or_404(Survey, slug=slug)
    identified = _is_admin(request)
    states = (
        selectors.ORGANISATION_STATES if identified else selectors.ORGANISATION_STATES_FOR_STAFF
    )
    search = _search(request)
    state = request.GET.get("state", "")
    error = ""
    if state and state not in states:
        error, state = "state must be one of " + ", ".join(states) + ".", ""
    page = _page(
        request,
        selectors.invited_organisations(survey=survey, search=search, state=state),
        ROWS_PER_PAGE,
    )
    rows = []
    for invitation in page:
        response = getattr(invitation, "response", None)
        rows.append(
            {
                "invitation": invitation,
                "state": states[selectors.invitation_state(invitation, identified=identified)],
                "pseudonym": _pseudonym(survey, response.pk)
                if identified and response is not None
                else None,
            }
        )
    context = {
        "survey": survey,
        "page": page,
        "rows": rows,
        "search": search,
        "error": error,
        "states": list(states.items()),
        "state": state,
        "identified": identified,
    }
    return render(
        request, "staff/console/organisations.html", context, status=400 if error else 200
    )

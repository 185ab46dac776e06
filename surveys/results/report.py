"""The executive summary of a survey: headline participation, key findings written as sentences
from the data, one chart per question, the top countries with a world map, and a selection of
free-text answers. Words as in docs/glossary.md.

Everything is computed from `survey_statistics` (grouped counts) plus one query per text
question for the quoted answers and one for the finding hints, so a report costs the same
whatever the survey's size. The sentences follow a small generic rule set per question type and
use the question's own labels: nothing here knows the demo's figures.

A survey author can add a sentence the rules cannot write, with a **finding hint** on a question
(`finding: {choices: [...], text: ...}` in the survey file, kept in Question.options): the share
of the question's base who chose any of those choices, e.g. the top points of an ordered
frequency scale ("Over 82% use the platform at least once a month") or one option ("26% updated
their profile in 2019"). It comes after the question's generic sentence.

Which questions appear, and in what order, is a list of question codes: the `q` query parameter
of the report, else the survey's saved default (`Survey.report_questions`, once that field
exists), else every question in questionnaire order.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.safestring import SafeString

from surveys.models import ClusterOrganisation, Survey
from surveys.questionnaire.structure import questionnaire_load
from surveys.questionnaire.survey_files import FINDING_KEY, finding_hint_errors
from surveys.questionnaire.types import question_type
from surveys.results.charts import (
    bar_chart_svg,
    stacked_scale_svg,
    timeline_is_single_day,
    timeline_svg,
)
from surveys.results.disclosure import statistics_small_cells_suppress
from surveys.results.figures import answer_header
from surveys.results.filters import StatsFilter, filtered_answers
from surveys.results.stats_types import (
    OptionStatistics,
    QuestionStatistics,
    StatementStatistics,
    SurveyStatistics,
)
from surveys.results.summaries import survey_statistics_current
from surveys.results.worldmap import world_map_svg

TOP_COUNTRIES = 10
# What a country question's map counts (its legend's title).
COUNTRY_QUESTION_LEGEND = "Respondents naming the country"
QUOTED_ANSWERS = 8
# Names shorter than this are too likely to occur inside ordinary words to filter quotes by.
MIN_NAME_LENGTH = 4


# Wording ---------------------------------------------------------------------------------------


def percent_wording(*, value: float) -> str:
    """A share as a sentence says it: "over N%" only when the value is above the whole number N
    (27.1 -> "over 27%"), else "N%" (50.0 -> "50%"), per the glossary."""
    whole = Decimal(str(value)).to_integral_value(rounding=ROUND_FLOOR)
    return f"over {whole}%" if Decimal(str(value)) > whole else f"{whole}%"


def whole_percent(*, value: float) -> str:
    """A share in parentheses after a count, rounded half up to a whole number: "27%"."""
    return f"{Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)}%"


def _capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _quoted(label: str) -> str:
    return f"“{label}”"


def _listed(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _respondents(count: int) -> str:
    return f"{count} respondent{'' if count == 1 else 's'}"


# Which questions -------------------------------------------------------------------------------


def report_question_codes(survey: Survey) -> list[str]:
    """The survey's default selection: its saved `report_questions` (when the model has that
    field and it is not empty), else every question in questionnaire order. Codes of questions
    removed since are dropped."""
    known = [question.code for question in questionnaire_load(survey).questions]
    saved = getattr(survey, "report_questions", None) or []
    chosen = [code for code in dict.fromkeys(saved) if code in known]
    return chosen or known


def report_question_codes_clean(*, survey: Survey, codes: list[str]) -> list[str]:
    """The codes that name questions of the survey, first occurrence kept, in the given order."""
    known = {question.code for question in questionnaire_load(survey).questions}
    return [code for code in dict.fromkeys(codes) if code in known]


def report_question_codes_from_form(
    *, survey: Survey, shown: list[str], positions: dict[str, str]
) -> list[str]:
    """The admin form's answer as an ordered list: the ticked codes, by the order number typed
    next to each (blank or unreadable numbers go last), ties in questionnaire order."""
    order = {q.code: index for index, q in enumerate(questionnaire_load(survey).questions)}

    def position(code: str) -> tuple[float, int]:
        try:
            typed: float = int(positions.get(code, "").strip())
        except ValueError:
            typed = float("inf")
        return (typed, order.get(code, len(order)))

    return sorted(report_question_codes_clean(survey=survey, codes=shown), key=position)


class ReportSettingUnavailable(RuntimeError):
    """The model has no Survey.report_questions field (yet) to store a default in."""


def survey_report_questions_save(*, survey: Survey, codes: list[str]) -> list[str]:
    """Store the selection as the survey's default; returns the codes stored (unknown codes
    dropped). Raises ReportSettingUnavailable until Survey.report_questions exists."""
    if not report_can_save_default():
        raise ReportSettingUnavailable("Survey has no report_questions field.")
    cleaned = report_question_codes_clean(survey=survey, codes=codes)
    survey.report_questions = cleaned
    survey.save(update_fields=["report_questions"])
    return cleaned


def report_can_save_default() -> bool:
    """Whether the model can store a default selection (Survey.report_questions)."""
    return any(field.name == "report_questions" for field in Survey._meta.get_fields())


# The report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    code: str
    question: str
    sentence: str
    # The sentence of the question's finding hint, if it has one (after `sentence`).
    hint_sentence: str = ""


@dataclass(frozen=True)
class FindingHint:
    """A survey author's finding for one question: the share of its base who chose any of
    `choice_ids`, said before `text`."""

    question_id: int
    choice_ids: tuple[int, ...]
    text: str


def survey_report(
    *,
    survey: Survey,
    question_codes: list[str] | None = None,
    filters: StatsFilter | None = None,
    small_cell_minimum: int | None = None,
) -> dict[str, Any]:
    """The report's content as a dict for the template (charts are safe SVG strings).

    small_cell_minimum: a Viewer's (surveys.results.disclosure.small_cell_minimum_for); when
    fewer responses than that started in the filtered set, the report has no question, quote,
    finding or timeline and its participation says "fewer than N".

    question_codes: which questions, in that order (unknown codes are dropped); None for the
    survey's default (report_question_codes). Raises StatsFilterError for filters that name
    nothing of the survey (survey_statistics)."""
    filters = filters or StatsFilter()
    stats = statistics_small_cells_suppress(
        stats=survey_statistics_current(survey=survey, filters=filters),
        minimum=small_cell_minimum,
    )
    if question_codes is None:
        codes = report_question_codes(survey)
    else:
        codes = report_question_codes_clean(survey=survey, codes=question_codes)
    by_code = {entry["id"]: entry for entry in stats["questions"]}
    organisation_names = _organisation_names(survey)
    hints = {code: hint for code, hint in finding_hints(survey).items() if code in codes}
    hint_counts = finding_hint_counts(survey=survey, filters=filters, hints=hints)

    sections = []
    # A small cell's stats have no questions: nothing to report on (quotes included).
    for code in codes if by_code else []:
        entry = by_code[code]
        section = question_section(entry=entry)
        if code in hints:
            section["hint_sentence"] = finding_hint_sentence(
                text=hints[code].text, count=hint_counts.get(code, 0), base=entry["base"]
            )
        if question_type(entry["type"]).quotable:
            section["quotes"] = text_answers_selection(
                survey=survey,
                code=code,
                filters=filters,
                organisation_names=organisation_names,
            )
        sections.append(section)
    return {
        "survey": survey,
        "filters": filters,
        "opens_at": timezone.localtime(survey.opens_at),
        "closes_at": timezone.localtime(survey.closes_at),
        "participation": participation_summary(stats=stats),
        "timeline": timeline_chart(stats),
        "findings": [
            Finding(
                code=s["code"],
                question=s["text"],
                sentence=s["sentence"],
                hint_sentence=s["hint_sentence"],
            )
            for s in sections
            if s["sentence"] or s["hint_sentence"]
        ],
        "sections": sections,
        "suppressed": stats.get("suppressed", False),
        "small_cell_minimum": small_cell_minimum,
        "question_codes": codes,
        "questions": [
            {"code": entry["id"], "text": entry["text"], "position": _position(codes, entry["id"])}
            for entry in stats["questions"]
        ],
    }


def _position(codes: list[str], code: str) -> int | None:
    return codes.index(code) + 1 if code in codes else None


def participation_summary(*, stats: SurveyStatistics) -> dict[str, Any]:
    """The headline figures and their sentences (participation rate worded per the glossary).
    A Viewer's small cell (started is None) gets the one sentence that says so."""
    invited, started, completed = stats["invited"], stats["started"], stats["completed"]
    partial = stats["partial"]
    if started is None or completed is None or partial is None:
        minimum = stats.get("small_cell_minimum")
        return {
            "invited": invited,
            "suppressed": True,
            "sentences": [
                f"Invitations went to {invited} organisation{'' if invited == 1 else 's'}; "
                f"fewer than {minimum} took part in this selection, too few to show their "
                "answers without pointing at an organisation."
            ],
        }
    sentences = [
        f"Invitations went to {invited} organisation{'' if invited == 1 else 's'}, and "
        f"{completed} full response{'' if completed == 1 else 's'} "
        f"{'was' if completed == 1 else 'were'} collected."
    ]
    if invited:
        took_part = f"{started}" + (
            f", counting {partial} partial response{'' if partial == 1 else 's'}" if partial else ""
        )
        sentences.append(
            f"In all, {percent_wording(value=stats['participation_rate'] or 0.0)} of the invited "
            f"organisations took part ({took_part}); the response rate, full responses only, "
            f"is {stats['response_rate'] or 0.0:.1f}%."
        )
    return {
        "invited": invited,
        "started": started,
        "partial": partial,
        "completed": completed,
        "participation_rate": stats["participation_rate"],
        "response_rate": stats["response_rate"],
        "completion_rate": stats["completion_rate"],
        "sentences": sentences,
    }


def timeline_chart(stats: SurveyStatistics) -> SafeString | None:
    """The stats' timeline as the report and the dashboard draw it: responses per day with each
    send marked; None when the timeline has no day yet."""
    timeline = stats.get("timeline") or {}
    days = timeline.get("days") or []
    if not days:
        return None
    labels = {"wave": "invitations", "invitation": "invitations", "reminder": "reminders"}
    events = [
        {
            "date": event["date"],
            "label": f"{event.get('emails', 0)} {labels.get(event.get('kind'), 'emails')} sent"
            + (f" ({event['name']})" if event.get("name") else ""),
        }
        for event in timeline.get("events", [])
    ]
    return timeline_svg(title="Responses started and completed per day", days=days, events=events)


def timeline_caption(stats: SurveyStatistics) -> str:
    """What timeline_chart draws, in words for the caption under it: one day's two bars, or
    the columns and line of several days (with the sends' numbered lines when there are
    sends)."""
    timeline = stats.get("timeline") or {}
    days, events = timeline.get("days") or [], timeline.get("events") or []
    if timeline_is_single_day(days, events):
        return (
            "Everything so far happened on one day: the responses started and completed that "
            "day as two bars on one scale"
            + ("; the emails sent that day are listed under them." if events else ".")
        )
    return "Responses started (columns) and completed (line) per day" + (
        "; numbered lines mark the days emails were sent." if events else "."
    )


# One question ----------------------------------------------------------------------------------


def question_section(*, entry: QuestionStatistics) -> dict[str, Any]:
    """A question of the stats JSON as a report section: its finding sentence, chart, rows for
    the table, and for country questions the top countries and the map."""
    kind, base = question_type(entry["type"]), entry["base"]
    section: dict[str, Any] = {
        "code": entry["id"],
        "text": entry["text"],
        "type": entry["type"],
        "base": base,
        "sentence": question_finding(entry=entry),
        "hint_sentence": "",
        "chart": None,
        "rows": [],
        "statements": [],
        "top_countries": [],
        "map": None,
        "quotes": [],
        "mean": entry.get("mean"),
        # Shown beside the chart where the mean is the type's summary (a number's average).
        "average": entry.get("mean") if kind.summary == "mean" else None,
        "answers_count": entry.get("answers_count"),
        # What the rows are: months of a date question, countries, else answers.
        "answer_header": answer_header(entry),
        # Whether shares may add up to over 100%. The stats do not say whether a country
        # question allows several countries; more answers than respondents shows it did.
        "multiple": kind.several_answers or sum(o["count"] for o in entry["options"]) > base,
    }
    if not base:
        return section
    if kind.chart == "map":
        section["top_countries"] = entry["options"][:TOP_COUNTRIES]
        section["rows"] = entry["options"]
        section["map"] = world_map_svg(
            counts={str(option["value"]): option["count"] for option in entry["options"]},
            title=entry["text"],
            legend_title=COUNTRY_QUESTION_LEGEND,
        )
    elif kind.chart == "statements":
        statements: list[dict[str, Any]] = [
            {"label": s["text"], "base": s["base"], "options": s["options"]}
            for s in entry.get("statements", [])
        ]
        section["statements"] = statements
        scale = [option["label"] for option in statements[0]["options"]] if statements else []
        section["chart"] = stacked_scale_svg(title=entry["text"], scale=scale, rows=statements)
    elif entry["options"]:
        section["rows"] = entry["options"]
        section["chart"] = bar_chart_svg(title=entry["text"], rows=entry["options"])
    return section


def question_finding(*, entry: QuestionStatistics) -> str:
    """One sentence from a question's figures, by the rule its type names
    (QuestionKind.summary, SUMMARY_SENTENCES). Empty when nobody answered, and for types with
    no rule (texts: the report quotes them instead)."""
    if not entry["base"]:
        return ""
    rule = question_type(entry["type"]).summary
    return SUMMARY_SENTENCES[rule](entry) if rule else ""


def _yes_share_sentence(entry: QuestionStatistics) -> str:
    """The "yes" share of a yes/no."""
    yes = next((o for o in entry.get("options") or [] if o["value"] == 1), None)
    if yes is None:
        return ""
    return _capitalised(
        f"{percent_wording(value=yes['percent'])} answered {_quoted(yes['label'])} "
        f"({yes['count']} of {_respondents(entry['base'])})."
    )


def _date_range_sentence(entry: QuestionStatistics) -> str:
    """The earliest and latest date given."""
    earliest, latest = entry.get("earliest"), entry.get("latest")
    if not earliest or not latest:
        return ""
    respondents = _respondents(entry["base"])
    if earliest == latest:
        return f"Every answer is {_written_date(earliest)} ({respondents})."
    return (
        f"The answers range from {_written_date(earliest)} to {_written_date(latest)} "
        f"({respondents})."
    )


def _written_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def _mean_sentence(entry: QuestionStatistics) -> str:
    """The mean of a number."""
    mean = entry.get("mean")
    if mean is None:
        return ""
    return f"The average answer is {mean:g} ({_respondents(entry['base'])})."


def _share(count: int, base: int) -> Decimal:
    return (Decimal(count * 100) / Decimal(base)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _top_box(options: list[OptionStatistics]) -> list[OptionStatistics]:
    """The top two points of a scale (the top one on a scale of three points or fewer)."""
    by_value = sorted(options, key=lambda o: o["value"])
    return by_value[-2:] if len(by_value) >= 4 else by_value[-1:]


def _top_box_sentence(options: list[OptionStatistics], base: int) -> str:
    top = _top_box(options)
    if not top:
        return ""
    count = sum(o["count"] for o in top)
    # From the counts, not by adding the options' shares, which are rounded each.
    share = _share(count, base)
    labels = " or ".join(_quoted(o["label"]) for o in sorted(top, key=lambda o: o["value"]))
    return _capitalised(
        f"{percent_wording(value=float(share))} answered {labels} "
        f"({count} of {_respondents(base)})."
    )


def _ranked(options: list[OptionStatistics]) -> list[OptionStatistics]:
    # Most chosen first; ties keep questionnaire order (sorted() is stable).
    return sorted((o for o in options if o["count"]), key=lambda o: -o["count"])


def _count_and_share(option: OptionStatistics) -> str:
    return f"({_respondents(option['count'])}, {whole_percent(value=option['percent'])})"


def _most_chosen_sentence(options: list[OptionStatistics], *, ranked: bool) -> str:
    top = _ranked(options)[:3]
    if not top:
        return ""
    listed = _listed([f"{_quoted(o['label'])} {_count_and_share(o)}" for o in top])
    verb = "ranked" if ranked else "chosen"
    subject = "option" if len(top) == 1 else "options"
    is_are = "is" if len(top) == 1 else "are"
    return f"The {subject} {verb} most often {is_are} {listed}."


def _most_common_sentence(options: list[OptionStatistics], base: int) -> str:
    ranked = _ranked(options)
    if not ranked:
        return ""
    first = ranked[0]
    if first["percent"] > 50:
        return _capitalised(
            f"{percent_wording(value=first['percent'])} answered {_quoted(first['label'])} "
            f"({first['count']} of {_respondents(base)})."
        )
    sentence = f"The most common answer is {_quoted(first['label'])} {_count_and_share(first)}"
    followers = [f"{_quoted(o['label'])} {_count_and_share(o)}" for o in ranked[1:3]]
    if followers:
        sentence += ", followed by " + _listed(followers)
    return sentence + "."


def _countries_sentence(options: list[OptionStatistics]) -> str:
    top = options[:3]  # already most named first
    if not top:
        return ""
    first, rest = top[0], top[1:]
    items = [f"{first['label']} ({_respondents(first['count'])})"]
    items += [f"{o['label']} ({o['count']})" for o in rest]
    if len(top) == 1:
        return f"The country named most often is {items[0]}."
    return f"The countries named most often are {_listed(items)}."


def _matrix_sentence(statements: list[StatementStatistics]) -> str:
    scored = []
    for statement in statements:
        top = _top_box(statement["options"])
        if statement["base"] and top:
            count = sum(o["count"] for o in top)
            share = _share(count, statement["base"])
            scored.append((share, statement, top, count))
    if not scored:
        return ""
    share, statement, top, count = max(scored, key=lambda item: item[0])
    labels = " or ".join(_quoted(o["label"]) for o in sorted(top, key=lambda o: o["value"]))
    return (
        f"{_quoted(statement['text'])} has the largest share answering {labels}: "
        f"{percent_wording(value=float(share))} ({count} of {_respondents(statement['base'])})."
    )


# Finding hints -----------------------------------------------------------------------------------


def finding_hints(survey: Survey) -> dict[str, FindingHint]:
    """The survey's finding hints by question code, from the (cached) questionnaire. A hint
    that is not usable (edited by hand in the admin's options since the import checked it) is
    left out rather than failing the report: the question keeps its generic sentence."""
    hints = {}
    for question in questionnaire_load(survey).questions:
        hint = question.options.get(FINDING_KEY)
        if hint is None:
            continue
        choice_ids = {choice.value: choice.pk for choice in question.choices.all()}
        if finding_hint_errors(
            hint=hint, question_type=question.type, choice_values=set(choice_ids)
        ):
            continue
        hints[question.code] = FindingHint(
            question_id=question.pk,
            choice_ids=tuple(choice_ids[value] for value in hint["choices"]),
            text=hint["text"].strip().rstrip("."),
        )
    return hints


def finding_hint_counts(
    *, survey: Survey, filters: StatsFilter, hints: dict[str, FindingHint]
) -> dict[str, int]:
    """Per question code, the respondents who chose any of its hint's choices, among the answers
    the filters choose (the same rows as the question's base). Distinct responses, since a
    multiple choice or a ranking has a row per option chosen: adding the options' counts would
    count a respondent once per option. One grouped query for every hint; none without hints."""
    if not hints:
        return {}
    chosen = Q()
    for hint in hints.values():
        chosen |= Q(question_id=hint.question_id, choice_id__in=hint.choice_ids)
    rows = (
        filtered_answers(
            survey=survey, filters=filters, question_ids=[h.question_id for h in hints.values()]
        )
        .filter(chosen)
        .order_by()
        .values("question_id")
        .annotate(count=Count("response_id", distinct=True))
    )
    code_of = {hint.question_id: code for code, hint in hints.items()}
    return {code_of[row["question_id"]]: row["count"] for row in rows}


def finding_hint_sentence(*, text: str, count: int, base: int) -> str:
    """The share before the author's words, in the glossary's wording, with the count it comes
    from: "Over 82% use the ECCP at least once a month (199 of 240 respondents)." Empty when
    nobody answered the question."""
    if not base:
        return ""
    share = _share(count, base)
    return _capitalised(
        f"{percent_wording(value=float(share))} {text} ({count} of {_respondents(base)})."
    )


# Free texts ------------------------------------------------------------------------------------


# An email address or a web address in a quote may name its writer or their organisation.
EMAIL_OR_URL = re.compile(
    r"[^\s@]+@[^\s@]+\.[^\s@]+"  # name@example.org
    r"|\b(?:https?://|www\.)\S+"  # http://..., https://..., www....
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|eu|info|biz|io)\b",  # example.eu
    re.IGNORECASE,
)


def text_folded(text: str) -> str:
    """A text as the quote filter compares it: accents dropped (NFKD without combining marks),
    case folded, every run of whitespace one space, no space at either end."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


def _organisation_names(survey: Survey) -> list[str]:
    names = ClusterOrganisation.objects.filter(invitations__survey=survey).values_list(
        "name", flat=True
    )
    folded = (text_folded(name) for name in names)
    return [name for name in folded if len(name) >= MIN_NAME_LENGTH]


def text_answers_selection(
    *,
    survey: Survey,
    code: str,
    filters: StatsFilter,
    organisation_names: list[str],
    limit: int = QUOTED_ANSWERS,
) -> list[str]:
    """Up to `limit` written answers to quote: distinct texts, longest first (ties
    alphabetically), so the choice is the same on every run. An answer that mentions the name
    of an organisation invited to the survey (compared as `text_folded`: other case, spacing or
    accents still match; `organisation_names` folded the same way) or that holds an email or web
    address is left out: the report goes to Viewers, who must not see organisations. One
    query."""
    texts = (
        filtered_answers(survey=survey, filters=filters)
        .filter(question__code=code)
        .exclude(text="")
        .annotate(length=Length("text"))
        .values_list("text", "length")
        .distinct()
        .order_by("-length", "text")
    )
    chosen: list[str] = []
    for text, _length in texts.iterator():
        folded = text_folded(text)
        if any(name in folded for name in organisation_names) or EMAIL_OR_URL.search(text):
            continue
        chosen.append(text.strip())
        if len(chosen) >= limit:
            break
    return chosen


# The summary rules a question type may name (QuestionKind.summary): one sentence each.
SUMMARY_SENTENCES: dict[str, Callable[[QuestionStatistics], str]] = {
    # The top-two-box share of a rating.
    "top_box": lambda entry: _top_box_sentence(entry.get("options") or [], entry["base"]),
    # The options chosen most often of a multiple choice, or of a ranking.
    "most_chosen": lambda entry: _most_chosen_sentence(entry.get("options") or [], ranked=False),
    "most_chosen_ranked": lambda entry: _most_chosen_sentence(
        entry.get("options") or [], ranked=True
    ),
    # The most common answer of a single choice.
    "most_common": lambda entry: _most_common_sentence(entry.get("options") or [], entry["base"]),
    "yes_share": _yes_share_sentence,
    # The three countries named most often.
    "countries": lambda entry: _countries_sentence(entry.get("options") or []),
    # The matrix statement with the largest top-two-box share.
    "statements_top_box": lambda entry: _matrix_sentence(entry.get("statements") or []),
    "mean": _mean_sentence,
    # The earliest and latest date of a date question.
    "date_range": _date_range_sentence,
}

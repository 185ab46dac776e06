"""Statistics of one survey, as plain dicts (the stats JSON). Words as in ../shared/GLOSSARY.md.

Pure reads. Every figure comes from a grouped count in the database, never from a Python loop
over answer rows, so the number of queries is fixed whatever the survey's size: one for the
invitation funnel, the questionnaire's own (questionnaire_load) and one per kind of answer
grouping. Python only arranges the grouped rows in questionnaire order.

Rates and shares are floats: percentages from 0 to 100 with one decimal, rounded half up
(computed with Decimal so that 12.25 becomes 12.3, not the float's 12.2); 0.0 when the
denominator is zero. Means are floats rounded half up to two decimals, or None without answers.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django_countries import countries

from surveys.models import Answer, Invitation, Question, Survey
from surveys.questionnaire import questionnaire_load

TEXT_TYPES = {Question.Type.SHORT_TEXT, Question.Type.LONG_TEXT}
# Types whose choice values are points of a scale, so that an average means something.
SCALE_TYPES = {Question.Type.RATING, Question.Type.MATRIX}

ONE_DECIMAL = Decimal("0.1")
TWO_DECIMALS = Decimal("0.01")


def percent(part: int, whole: int) -> float:
    """part / whole as a percentage with one decimal, rounded half up; 0.0 when whole is 0."""
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(ONE_DECIMAL, ROUND_HALF_UP))


def _mean(value: Any) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(TWO_DECIMALS, ROUND_HALF_UP))


def survey_statistics(*, survey: Survey, complete_only: bool = False) -> dict[str, Any]:
    """The invitation funnel, its rates and every question's figures.

    complete_only restricts the questions' figures (bases, counts, means) to submitted
    responses; the funnel counts always describe every invitation."""
    funnel = survey_funnel(survey=survey)
    return {
        **funnel,
        "response_rate": percent(funnel["completed"], funnel["invited"]),
        "participation_rate": percent(funnel["started"], funnel["invited"]),
        "completion_rate": percent(funnel["completed"], funnel["started"]),
        "questions": question_statistics(survey=survey, complete_only=complete_only),
    }


def survey_funnel(*, survey: Survey) -> dict[str, int]:
    """invited, opened, started, partial, completed, opted_out, in one grouped query.

    An invitation has at most one response (one-to-one), so counting through the join counts
    invitations."""
    counts = Invitation.objects.filter(survey=survey).aggregate(
        invited=Count("id"),
        opened=Count("id", filter=Q(first_opened_at__isnull=False)),
        opted_out=Count("id", filter=Q(opted_out_at__isnull=False)),
        started=Count("response"),
        completed=Count("response", filter=Q(response__submitted_at__isnull=False)),
    )
    return {
        "invited": counts["invited"],
        "opened": counts["opened"],
        "started": counts["started"],
        "partial": counts["started"] - counts["completed"],
        "completed": counts["completed"],
        "opted_out": counts["opted_out"],
    }


def survey_answers(*, survey: Survey, complete_only: bool = False) -> QuerySet[Answer]:
    """The answer rows that the figures count: the one place where filters narrow them."""
    answers = Answer.objects.filter(response__survey=survey)
    if complete_only:
        answers = answers.filter(response__submitted_at__isnull=False)
    return answers


def question_statistics(*, survey: Survey, complete_only: bool = False) -> list[dict[str, Any]]:
    """Each question's base and options, in questionnaire order."""
    answers = survey_answers(survey=survey, complete_only=complete_only)
    totals = _question_totals(answers)
    choice_counts = _choice_counts(answers)
    statement_totals = _statement_totals(answers)
    country_counts = _country_counts(answers)

    result = []
    for question in questionnaire_load(survey).questions:
        total = totals.get(question.pk, {})
        base = total.get("base", 0)
        entry: dict[str, Any] = {
            "id": question.code,
            "text": question.text,
            "type": question.type,
            "base": base,
            "options": [],
        }
        if question.type == Question.Type.MATRIX:
            entry["statements"] = _statement_rows(question, statement_totals, choice_counts)
        elif question.uses_choices:
            entry["options"] = _choice_options(question, None, base, choice_counts)
        elif question.type == Question.Type.COUNTRY:
            entry["options"] = _country_options(country_counts.get(question.pk, {}), base)
        elif question.type in TEXT_TYPES:
            entry["answers_count"] = total.get("answers_count", 0)
        if question.type == Question.Type.RATING:
            entry["mean"] = _mean(total.get("choice_mean"))
        elif question.type == Question.Type.NUMBER:
            entry["mean"] = _mean(total.get("number_mean"))
        result.append(entry)
    return result


# Grouped queries: one each, keyed for lookup ---------------------------------------------------


def _question_totals(answers: QuerySet[Answer]) -> dict[int, dict[str, Any]]:
    """Per question: base (distinct responses with a row), non-empty texts and means."""
    rows = answers.values("question_id").annotate(
        base=Count("response_id", distinct=True),
        answers_count=Count("id", filter=~Q(text="")),
        choice_mean=Avg("choice__value"),
        number_mean=Avg("number"),
    )
    return {row["question_id"]: row for row in rows}


def _choice_counts(answers: QuerySet[Answer]) -> dict[tuple[int, int | None, int], int]:
    """(question, statement or None, choice) -> distinct responses choosing it."""
    rows = (
        answers.filter(choice__isnull=False)
        .values("question_id", "statement_id", "choice_id")
        .annotate(count=Count("response_id", distinct=True))
    )
    return {(r["question_id"], r["statement_id"], r["choice_id"]): r["count"] for r in rows}


def _statement_totals(answers: QuerySet[Answer]) -> dict[int, dict[str, Any]]:
    """Per matrix statement: base and mean scale value."""
    rows = (
        answers.filter(statement__isnull=False)
        .values("statement_id")
        .annotate(base=Count("response_id", distinct=True), mean=Avg("choice__value"))
    )
    return {row["statement_id"]: row for row in rows}


def _country_counts(answers: QuerySet[Answer]) -> dict[int, dict[str, int]]:
    """question -> {country code: distinct responses naming it}."""
    rows = (
        answers.exclude(country="")
        .values("question_id", "country")
        .annotate(count=Count("response_id", distinct=True))
    )
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for row in rows:
        result[row["question_id"]][str(row["country"])] = row["count"]
    return result


# Arranging grouped rows -----------------------------------------------------------------------


def _choice_options(
    question: Question,
    statement_id: int | None,
    base: int,
    choice_counts: dict[tuple[int, int | None, int], int],
) -> list[dict[str, Any]]:
    """Every choice in questionnaire order, chosen or not, with its share of the base."""
    options = []
    for choice in question.choices.all():
        count = choice_counts.get((question.pk, statement_id, choice.pk), 0)
        options.append(
            {
                "value": choice.value,
                "label": choice.label,
                "count": count,
                "percent": percent(count, base),
            }
        )
    return options


def _statement_rows(
    question: Question,
    statement_totals: dict[int, dict[str, Any]],
    choice_counts: dict[tuple[int, int | None, int], int],
) -> list[dict[str, Any]]:
    rows = []
    for statement in question.statements.all():
        total = statement_totals.get(statement.pk, {})
        base = total.get("base", 0)
        rows.append(
            {
                "value": statement.value,
                "text": statement.text,
                "base": base,
                "mean": _mean(total.get("mean")),
                "options": _choice_options(question, statement.pk, base, choice_counts),
            }
        )
    return rows


def _country_options(counts: dict[str, int], base: int) -> list[dict[str, Any]]:
    """Countries named at least once, most named first, ties by name."""
    named = [(code, str(countries.name(code)) or code, count) for code, count in counts.items()]
    named.sort(key=lambda item: (-item[2], item[1]))
    return [
        {"value": code, "label": label, "count": count, "percent": percent(count, base)}
        for code, label, count in named
    ]

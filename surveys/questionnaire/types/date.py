"""date: a calendar date (<input type="date">, no JavaScript needed), optionally between
options.min_date and options.max_date (ISO, YYYY-MM-DD).

Stored as ISO text in Answer.text ("2024-05-31"): no column or migration, it sorts and groups
correctly as text, and the answer value is that same text. Exports turn it into a date (an XLSX
date cell, an SPSS DATE variable); statistics count answers by month.
"""

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django import forms

from surveys.models import Question
from surveys.questionnaire.types.base import (
    AnswerFigures,
    ExportColumnSpec,
    FileCheck,
    FormErrors,
    QuestionFigures,
    QuestionKind,
    percent,
)

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
BOUNDS = ("min_date", "max_date")


def iso_date(value: Any) -> date | None:
    """A YYYY-MM-DD text (or a date, as YAML reads an unquoted one) as a date; None otherwise."""
    if isinstance(value, datetime):
        # A date and time is not a date.
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def written(day: date) -> str:
    """31 May 2024."""
    return f"{day.day} {day:%B %Y}"


def bound(question: Question, name: str) -> date | None:
    return iso_date(question.options.get(name))


class Date(QuestionKind):
    code = "date"
    summary = "date_range"
    # Unquoted in YAML, 2024-05-31 is read as a date: both are accepted, and stored as text.
    options = {"min_date": (str, date), "max_date": (str, date)}
    statistics_needs = frozenset({"texts"})

    def check_file_options(
        self, *, options: dict[str, Any], choice_values: set[int], path: str, check: FileCheck
    ) -> None:
        parsed = {}
        for name in BOUNDS:
            if name not in options or not isinstance(options[name], (str, date)):
                continue
            parsed[name] = iso_date(options[name])
            if parsed[name] is None:
                check.add(f"{path}.options.{name}", "must be a date like 2024-05-31 (YYYY-MM-DD)")
        low, high = parsed.get("min_date"), parsed.get("max_date")
        if low and high and low > high:
            check.add(f"{path}.options.max_date", "must not be before min_date")

    def stored_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {
            key: value.isoformat() if key in BOUNDS and isinstance(value, date) else value
            for key, value in options.items()
        }

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        limits = {
            html: day.isoformat()
            for html, name in (("min", "min_date"), ("max", "max_date"))
            if (day := bound(question, name))
        }
        return {
            question.code: forms.DateField(
                required=False,
                # The browser's date picker sends ISO dates; without it, the respondent types one.
                input_formats=["%Y-%m-%d"],
                widget=forms.DateInput(attrs=attrs(type="date", **limits), format="%Y-%m-%d"),
                label=question.text,
                initial=value,
                error_messages={"invalid": "Please enter a date like 2024-05-31."},
            )
        }

    def form_value(self, question: Question, data: dict[str, Any]) -> Any:
        day = data.get(question.code)
        return day.isoformat() if day else None

    def form_errors(
        self,
        question: Question,
        value: Any,
        data: dict[str, Any],
        *,
        enforce_required: bool,
    ) -> FormErrors:
        day = date.fromisoformat(value)
        low, high = bound(question, "min_date"), bound(question, "max_date")
        if (low and day < low) or (high and day > high):
            if low and high:
                return [(None, f"Please enter a date from {written(low)} to {written(high)}.")]
            if low:
                return [(None, f"Please enter a date on or after {written(low)}.")]
            assert high is not None  # out of range, and no lower bound
            return [(None, f"Please enter a date on or before {written(high)}.")]
        return []

    def display_lines(
        self, question: Question, value: Any, label: Callable[[int], str]
    ) -> list[str]:
        return [written(date.fromisoformat(value))]

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        return [ExportColumnSpec("", question.text, "date", "date", measure="scale")]

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        """earliest and latest date given (ISO), and as options the answers per month
        ("2024-05", "May 2024"), months with answers only, in calendar order."""
        by_month: dict[str, int] = {}
        for text, count in sorted(figures.texts.items()):
            by_month[text[:7]] = by_month.get(text[:7], 0) + count
        days = sorted(figures.texts)
        return {
            "earliest": days[0] if days else None,
            "latest": days[-1] if days else None,
            "options": [
                {
                    "value": month,
                    "label": f"{date.fromisoformat(month + '-01'):%B %Y}",
                    "count": count,
                    "percent": percent(count, figures.base),
                }
                for month, count in by_month.items()
            ],
        }


TYPE = Date()

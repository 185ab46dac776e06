"""country: one country (a searchable select), or several with options.multiple; stored as
ISO 3166 codes in Answer.country."""

from collections.abc import Callable
from typing import Any

from django import forms
from django_countries import countries

from surveys.models import Answer, Choice, MatrixStatement, Question
from surveys.questionnaire.types.base import (
    CHOSEN_LABELS,
    AnswerFigures,
    Answers,
    ExportColumnSpec,
    QuestionFigures,
    QuestionKind,
    percent,
)


def is_multiple(question: Question) -> bool:
    return bool(question.options.get("multiple"))


class Country(QuestionKind):
    code = "country"
    summary = "countries"
    chart = "map"
    options = {"multiple": bool}
    export_lists_countries = True

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        country_choices = [(code, str(name)) for code, name in countries]
        if is_multiple(question):
            field: forms.Field = forms.MultipleChoiceField(
                choices=country_choices,
                required=False,
                widget=forms.SelectMultiple(
                    attrs=attrs(size="8", **{"data-country-search": "multiple"})
                ),
                label=question.text,
                initial=value or [],
            )
        else:
            field = forms.ChoiceField(
                choices=[("", "Choose a country…"), *country_choices],
                required=False,
                widget=forms.Select(attrs=attrs(**{"data-country-search": "single"})),
                label=question.text,
                initial=value,
            )
        return {question.code: field}

    def form_value(self, question: Question, data: dict[str, Any]) -> Any:
        if is_multiple(question):
            return list(data.get(question.code) or [])
        return super().form_value(question, data)

    def add_row_value(
        self,
        answers: Answers,
        question: Question,
        row: Answer,
        choice: Choice | None,
        statement: MatrixStatement | None,
    ) -> None:
        if is_multiple(question):
            answers.setdefault(question.code, []).append(str(row.country))
        else:
            answers[question.code] = str(row.country)

    def answer_rows(
        self, question: Question, value: Any, choice_row: Callable[..., Answer]
    ) -> list[Answer]:
        codes = value if isinstance(value, list) else [value]
        return [Answer(question=question, country=code) for code in codes]

    def display_lines(
        self, question: Question, value: Any, label: Callable[[int], str]
    ) -> list[str]:
        codes = value if isinstance(value, list) else [value]
        return [str(countries.name(code)) or code for code in codes]

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        """Several countries: a 0/1 column per country chosen in the exported responses (SPSS
        and spreadsheets count them without splitting strings); one: the ISO code."""
        if is_multiple(question):
            return [
                ExportColumnSpec(
                    f"_{iso}",
                    f"{question.text} [{countries.name(iso) or iso}]",
                    "numeric",
                    "country_flag",
                    key=iso,
                    value_labels=CHOSEN_LABELS,
                )
                for iso in chosen_countries
            ]
        labels: dict[int | str, str] = {
            iso: str(countries.name(iso) or iso) for iso in chosen_countries
        }
        return [ExportColumnSpec("", question.text, "text", "country", value_labels=labels)]

    def answers_vary_per_response(self, question: Question) -> bool:
        return is_multiple(question)

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        """Countries named at least once, most named first, ties by name."""
        counts = figures.counts.get(None, {})
        named = [(code, str(countries.name(code)) or code, n) for code, n in counts.items()]
        named.sort(key=lambda item: (-item[2], item[1]))
        return {
            "options": [
                {"value": code, "label": label, "count": n, "percent": percent(n, figures.base)}
                for code, label, n in named
            ]
        }


TYPE = Country()

"""country: one country (a searchable select), or several with options.multiple (checkboxes,
which survey.js turns into a searchable combobox with chips); stored as ISO 3166 codes in
Answer.country. The list can be limited: options.countries (only these) and options.exclude
(all but these) take ISO codes and the group names in COUNTRY_GROUPS."""

from collections.abc import Callable
from typing import Any

from django import forms
from django_countries import countries

from surveys.models import Answer, Choice, MatrixStatement, Question
from surveys.questionnaire.types.base import (
    CHOSEN_LABELS,
    AnswerFigures,
    AnswerJsonShape,
    Answers,
    ExportColumnSpec,
    FileCheck,
    QuestionFigures,
    QuestionKind,
    percent,
)

# Groups a survey file may name in options.countries / options.exclude.
COUNTRY_GROUPS: dict[str, frozenset[str]] = {
    # The 27 member states of the European Union.
    "EU": frozenset([
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
        "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    ]),
    # Europe as the UN geoscheme draws it, and Cyprus (an EU member state).
    "EUROPE": frozenset([
        "AD", "AL", "AT", "AX", "BA", "BE", "BG", "BY", "CH", "CY", "CZ", "DE", "DK", "EE", "ES",
        "FI", "FO", "FR", "GB", "GG", "GI", "GR", "HR", "HU", "IE", "IM", "IS", "IT", "JE", "LI",
        "LT", "LU", "LV", "MC", "MD", "ME", "MK", "MT", "NL", "NO", "PL", "PT", "RO", "RS", "RU",
        "SE", "SI", "SJ", "SK", "SM", "UA", "VA",
    ]),
}  # fmt: skip


def is_multiple(question: Question) -> bool:
    return bool(question.options.get("multiple"))


def _expand(names: list[str]) -> set[str]:
    codes: set[str] = set()
    for name in names:
        codes |= COUNTRY_GROUPS.get(name, {name})
    return codes


def country_choices(question: Question) -> list[tuple[str, str]]:
    """The countries the question offers, by name."""
    only = _expand(question.options.get("countries") or [])
    excluded = _expand(question.options.get("exclude") or [])
    return [
        (code, str(name))
        for code, name in countries
        if (not only or code in only) and code not in excluded
    ]


class Country(QuestionKind):
    code = "country"
    summary = "countries"
    chart = "map"
    options = {"multiple": bool, "countries": list, "exclude": list}
    export_lists_countries = True

    def check_file_options(
        self, *, options: dict[str, Any], choice_values: set[int], path: str, check: FileCheck
    ) -> None:
        for key in ("countries", "exclude"):
            names = options.get(key)
            for name in names if isinstance(names, list) else []:
                if not isinstance(name, str) or (
                    name not in COUNTRY_GROUPS and name not in dict(countries)
                ):
                    groups = ", ".join(COUNTRY_GROUPS)
                    check.add(
                        f"{path}.options.{key}",
                        f"{name!r} is neither an ISO 3166 country code nor one of {groups}",
                    )
        if options.get("countries") and options.get("exclude"):
            check.add(f"{path}.options", "use countries or exclude, not both")

    def renders_as_group(self, question: Question) -> bool:
        """Several countries are a group of checkboxes (a fieldset); one is a select."""
        return is_multiple(question)

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        choices = country_choices(question)
        if is_multiple(question):
            field: forms.Field = forms.MultipleChoiceField(
                choices=choices,
                required=False,
                widget=forms.CheckboxSelectMultiple(),
                label=question.text,
                initial=value or [],
            )
        else:
            field = forms.ChoiceField(
                choices=[("", "Choose a country…"), *choices],
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

    def answer_json_shape(self, question: Question) -> AnswerJsonShape:
        return "countries" if is_multiple(question) else "country"

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

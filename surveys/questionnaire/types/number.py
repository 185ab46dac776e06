"""number: a decimal number between options.min_value and options.max_value, with
options.decimal_places (default 0), stored in Answer.number; its statistics have a mean."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms

from surveys.models import Answer, Choice, MatrixStatement, Question
from surveys.questionnaire.types.base import (
    AnswerFigures,
    AnswerJsonShape,
    Answers,
    ExportColumnSpec,
    QuestionFigures,
    QuestionKind,
    mean_rounded,
)


def plain_number(number: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent form (2010, not 2.01E+3)."""
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


class Number(QuestionKind):
    code = "number"
    summary = "mean"
    options = {"min_value": (int, float), "max_value": (int, float), "decimal_places": int}
    statistics_needs = frozenset({"number_mean"})

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        options = question.options
        min_value = options.get("min_value")
        max_value = options.get("max_value")
        places = options.get("decimal_places", 0)
        return {
            question.code: forms.DecimalField(
                required=False,
                min_value=Decimal(str(min_value)) if min_value is not None else None,
                max_value=Decimal(str(max_value)) if max_value is not None else None,
                decimal_places=places,
                max_digits=14,
                widget=forms.NumberInput(attrs=attrs(inputmode="decimal" if places else "numeric")),
                label=question.text,
                initial=value,
            )
        }

    def add_row_value(
        self,
        answers: Answers,
        question: Question,
        row: Answer,
        choice: Choice | None,
        statement: MatrixStatement | None,
    ) -> None:
        answers[question.code] = plain_number(row.number) if row.number is not None else None

    def answer_json_shape(self, question: Question) -> AnswerJsonShape:
        return "number"

    def answer_rows(
        self, question: Question, value: Any, choice_row: Callable[..., Answer]
    ) -> list[Answer]:
        return [Answer(question=question, number=Decimal(value))]

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        return [
            ExportColumnSpec(
                "",
                question.text,
                "numeric",
                "number",
                measure="scale",
                decimals=int(question.options.get("decimal_places") or 0),
            )
        ]

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        return {"mean": mean_rounded(figures.number_mean)}


TYPE = Number()

"""matrix: statements (rows) each rated on the question's choices (a Likert scale)."""

from collections.abc import Callable
from typing import Any

from django import forms

from surveys.models import Answer, Choice, MatrixStatement, Question
from surveys.questionnaire.types.base import (
    AnswerFigures,
    AnswerJsonShape,
    Answers,
    ChoicesKind,
    ExportColumnSpec,
    FormErrors,
    QuestionFigures,
    StatementStatistics,
    choice_mean,
    choice_options,
    value_suffix,
)


def row_key(question: Question, statement_value: int) -> str:
    return f"{question.code}-row-{statement_value}"


class Matrix(ChoicesKind):
    code = "matrix"
    summary = "statements_top_box"
    chart = "statements"
    has_statements = True
    can_be_condition = False
    # A matrix has a base per statement: one share of "the question" would mean nothing.
    allows_finding = False
    ordinal = True

    def field_names(self, question: Question) -> list[str]:
        return [row_key(question, s.value) for s in question.statements.all()]

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        value = value or {}
        choices = self.field_choices(question)
        fields: dict[str, forms.Field] = {}
        for statement in question.statements.all():
            chosen = value.get(statement.value)
            fields[row_key(question, statement.value)] = forms.ChoiceField(
                choices=choices,
                required=False,
                widget=forms.RadioSelect(attrs={"class": "choice-input"}),
                label=statement.text,
                initial=str(chosen) if chosen is not None else None,
            )
        return fields

    def form_value(self, question: Question, data: dict[str, Any]) -> Any:
        return {
            s.value: int(data[row_key(question, s.value)])
            for s in question.statements.all()
            if data.get(row_key(question, s.value))
        }

    def form_errors(
        self,
        question: Question,
        value: Any,
        data: dict[str, Any],
        *,
        enforce_required: bool,
    ) -> FormErrors:
        if not (enforce_required and question.required):
            return []
        return [
            (row_key(question, statement.value), "Please rate this statement.")
            for statement in question.statements.all()
            if statement.value not in value
        ]

    def error_fields(self, question: Question, fields: list[Any]) -> list[Any]:
        # Each row shows its own errors.
        return []

    def add_row_value(
        self,
        answers: Answers,
        question: Question,
        row: Answer,
        choice: Choice | None,
        statement: MatrixStatement | None,
    ) -> None:
        assert choice is not None and statement is not None
        answers.setdefault(question.code, {})[statement.value] = choice.value

    def answer_json_shape(self, question: Question) -> AnswerJsonShape:
        return "matrix"

    def answer_rows(
        self, question: Question, value: Any, choice_row: Callable[..., Answer]
    ) -> list[Answer]:
        statements = {s.value: s for s in question.statements.all()}
        return [
            choice_row(choice_value, statement=statements[statement_value])
            for statement_value, choice_value in value.items()
        ]

    def display_lines(
        self, question: Question, value: Any, label: Callable[[int], str]
    ) -> list[str]:
        statements = {s.value: s.text for s in question.statements.all()}
        return [f"{statements.get(s, s)}: {label(v)}" for s, v in value.items()]

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        scale: dict[int | str, str] = {c.value: c.label for c in question.choices.all()}
        return [
            ExportColumnSpec(
                value_suffix(statement.value),
                f"{question.text} [{statement.text}]",
                "numeric",
                "statement_choice",
                key=statement.pk,
                value_labels=scale,
                measure="ordinal",
            )
            for statement in question.statements.all()
        ]

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        rows: list[StatementStatistics] = []
        for statement in question.statements.all():
            counts = figures.counts.get(statement.pk, {})
            # One scale point per (response, statement): the counts add up to the base.
            base = sum(counts.values())
            rows.append(
                {
                    "value": statement.value,
                    "text": statement.text,
                    "base": base,
                    "mean": choice_mean(question, counts),
                    "options": choice_options(question, counts, base),
                }
            )
        return {"statements": rows}


TYPE = Matrix()

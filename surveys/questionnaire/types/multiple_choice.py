"""multiple_choice: several choices as checkboxes, with min_selections / max_selections and
"None of these" (an exclusive choice)."""

from collections.abc import Callable
from typing import Any

from django import forms

from surveys.models import Answer, Question
from surveys.questionnaire.types.base import (
    CHOSEN_LABELS,
    ChoicesKind,
    ExportColumnSpec,
    FormErrors,
    value_suffix,
)


def exclusive_message(label: str) -> str:
    return f"“{label}” cannot be combined with other answers: untick it or untick the others."


class MultipleChoice(ChoicesKind):
    code = "multiple_choice"
    summary = "most_chosen"
    several_answers = True
    options = {"min_selections": int, "max_selections": int}
    allows_exclusive_choices = True

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        return {
            question.code: forms.MultipleChoiceField(
                choices=self.field_choices(question),
                required=False,
                widget=forms.CheckboxSelectMultiple(attrs={"class": "choice-input"}),
                label=question.text,
                initial=[str(v) for v in value or []],
            )
        }

    def form_value(self, question: Question, data: dict[str, Any]) -> Any:
        return [int(v) for v in data.get(question.code) or []]

    def form_errors(
        self,
        question: Question,
        value: Any,
        data: dict[str, Any],
        *,
        enforce_required: bool,
    ) -> FormErrors:
        options = question.options
        low, high = options.get("min_selections"), options.get("max_selections")
        exclusive = [c for c in question.choices.all() if c.is_exclusive and c.value in value]
        if exclusive and len(value) > 1:
            # The one message that matters: unticking fixes any count too.
            return [(None, exclusive_message(exclusive[0].label))]
        errors: FormErrors = []
        # "None of these" alone is a complete answer, whatever the minimum.
        if low and len(value) < int(low) and not exclusive:
            errors.append((None, f"Please choose at least {low} options."))
        if high and len(value) > int(high):
            errors.append((None, f"Please choose at most {high} options."))
        return errors

    def answer_rows(
        self, question: Question, value: Any, choice_row: Callable[..., Answer]
    ) -> list[Answer]:
        return [choice_row(v) for v in value]

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        return [
            ExportColumnSpec(
                value_suffix(choice.value),
                f"{question.text} [{choice.label}]",
                "numeric",
                "choice_flag",
                key=choice.pk,
                value_labels=CHOSEN_LABELS,
            )
            for choice in question.choices.all()
        ]


TYPE = MultipleChoice()

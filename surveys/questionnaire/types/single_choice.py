"""single_choice: one choice, as radios or (options.widget: dropdown) a select."""

from collections.abc import Callable
from typing import Any

from django import forms

from surveys.models import Question
from surveys.questionnaire.types.base import ChoiceKind, FileCheck

WIDGETS = ("radio", "dropdown")


def is_dropdown(question: Question) -> bool:
    return question.options.get("widget") == "dropdown"


class SingleChoice(ChoiceKind):
    code = "single_choice"
    summary = "most_common"
    options = {"widget": str}

    def check_file_options(
        self, *, options: dict[str, Any], choice_values: set[int], path: str, check: FileCheck
    ) -> None:
        if options.get("widget", "radio") not in WIDGETS:
            check.add(f"{path}.options.widget", "must be radio or dropdown")

    def renders_as_group(self, question: Question) -> bool:
        return not is_dropdown(question)

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        if not is_dropdown(question):
            return super().form_fields(question, value, attrs)
        return {
            question.code: forms.ChoiceField(
                choices=[("", "Choose…"), *self.field_choices(question)],
                required=False,
                widget=forms.Select(attrs=attrs()),
                label=question.text,
                initial=str(value) if value is not None else None,
            )
        }


TYPE = SingleChoice()

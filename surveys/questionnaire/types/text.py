"""The text types' shared base: one text up to options.max_length characters."""

from collections.abc import Callable
from typing import Any, ClassVar

from django import forms

from surveys.models import Question
from surveys.questionnaire.types.base import AnswerFigures, QuestionFigures, QuestionKind


class TextKind(QuestionKind):
    options = {"max_length": int}
    quotable = True
    default_max_length: ClassVar[int]

    def max_length(self, question: Question) -> int:
        return int(question.options.get("max_length") or self.default_max_length)

    def widget(self, attrs: Callable[..., dict[str, str]], max_length: int) -> forms.Widget:
        raise NotImplementedError

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        max_length = self.max_length(question)
        return {
            question.code: forms.CharField(
                max_length=max_length,
                required=False,
                widget=self.widget(attrs, max_length),
                label=question.text,
                initial=value,
            )
        }

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        # answer_rows stores no row for an empty text: every row is an answer.
        return {"answers_count": figures.base}

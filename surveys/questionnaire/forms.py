"""The form of one questionnaire page, built from its questions.

Every field is optional at the Django level; whether a question must be answered depends on
whether it is visible (conditional display), so `clean()` decides that. Field names are the
question code, or the code with a suffix that a code cannot contain ("-other", "-row-3",
"-rank-1").
"""

from dataclasses import dataclass
from typing import Any

from django import forms

from surveys.models import Question
from surveys.questionnaire.structure import Answers, other_key, question_is_visible, value_is_empty
from surveys.questionnaire.types import question_type
from surveys.questionnaire.types.base import REQUIRED_MESSAGE
from surveys.questionnaire.types.short_text import DEFAULT_SHORT_TEXT_LENGTH


@dataclass
class QuestionBlock:
    """What the template needs to render one question."""

    question: Question
    fields: list[forms.BoundField]
    other_field: forms.BoundField | None
    # The condition refers to a question on the same page: rendered always, with a hint, and
    # shown or hidden by JavaScript; the server ignores its answer when the condition fails.
    condition_on_page: bool

    @property
    def dom_id(self) -> str:
        return f"q-{self.question.code}"

    @property
    def is_group(self) -> bool:
        return question_type(self.question.type).renders_as_group(self.question)

    @property
    def template(self) -> str:
        """The partial of the question's type that renders its inputs."""
        return question_type(self.question.type).template

    @property
    def has_errors(self) -> bool:
        return bool(self.all_errors)

    @property
    def errors_for_question(self) -> list[str]:
        """Errors shown once for the question (matrix rows show their own)."""
        bound = question_type(self.question.type).error_fields(self.question, self.fields)
        if self.other_field is not None:
            bound = [*bound, self.other_field]
        return [str(e) for field in bound for e in field.errors]

    @property
    def all_errors(self) -> list[str]:
        bound = [*self.fields, *([self.other_field] if self.other_field is not None else [])]
        return [str(e) for field in bound for e in field.errors]

    @property
    def described_by(self) -> str:
        """Ids of the hint and the question's error message, for aria-describedby."""
        ids = []
        if self.question.help_text:
            ids.append(f"{self.dom_id}-help")
        if self.errors_for_question:
            ids.append(f"{self.dom_id}-error")
        return " ".join(ids)

    @property
    def exclusive_values(self) -> set[str]:
        """Values (as the inputs carry them) of the choices that cannot be ticked with another;
        the template marks their checkboxes for survey.js."""
        return {str(c.value) for c in self.question.choices.all() if c.is_exclusive}

    @property
    def other_values(self) -> set[str]:
        """Values of the "Other" choices, whose text field is needed only when one is chosen."""
        return {str(c.value) for c in self.question.choices.all() if c.is_other}

    @property
    def other_values_text(self) -> str:
        return " ".join(sorted(self.other_values))

    @property
    def other_labels(self) -> str:
        return " or ".join(c.label for c in self.question.choices.all() if c.is_other)

    @property
    def condition_values_text(self) -> str:
        return " ".join(str(v) for v in self.question.condition_values)

    @property
    def condition_labels(self) -> str:
        condition = self.question.condition_question
        wanted = {int(v) for v in self.question.condition_values}
        labels = (
            [c.label for c in condition.choices.all() if c.value in wanted] if condition else []
        )
        return " or ".join(labels)


class PageForm(forms.Form):
    """Answers to the questions of one page.

    `answers` holds every stored answer of the response (earlier pages decide visibility);
    after validation, `page_values` has this page's answers of visible questions.
    """

    def __init__(
        self,
        *args: Any,
        questions: list[Question],
        answers: Answers,
        enforce_required: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.questions = questions
        self.answers = answers
        self.enforce_required = enforce_required
        self.page_values: Answers = {}
        self.question_errors: dict[str, list[str]] = {}
        for question in questions:
            self._add_fields(question)

    # Building ------------------------------------------------------------------------------

    def _add_fields(self, question: Question) -> None:
        described_by = f"q-{question.code}-help" if question.help_text else None

        def attrs(**extra: str) -> dict[str, str]:
            base = {"aria-describedby": described_by} if described_by else {}
            return {**base, **extra}

        value = self.answers.get(question.code)
        self.fields.update(question_type(question.type).form_fields(question, value, attrs))
        if any(c.is_other for c in question.choices.all()):
            self.fields[other_key(question)] = forms.CharField(
                max_length=DEFAULT_SHORT_TEXT_LENGTH,
                required=False,
                label="Please specify",
                initial=self.answers.get(other_key(question), ""),
            )

    # Reading -------------------------------------------------------------------------------

    def field_names(self, question: Question) -> list[str]:
        return question_type(question.type).field_names(question)

    def _value(self, question: Question) -> Any:
        return question_type(question.type).form_value(question, self.cleaned_data)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        merged: Answers = dict(self.answers)
        for question in self.questions:
            names = self.field_names(question)
            if any(name in self.errors for name in names):
                continue
            value = self._value(question)
            merged[question.code] = value
            if not question_is_visible(question, merged):
                # Hidden answers are ignored (and removed from this page when saved).
                merged.pop(question.code, None)
                continue
            self._check_question(question, value)
            if not value_is_empty(value):
                self.page_values[question.code] = value
            if other_key(question) in self.fields:
                other_text = (cleaned.get(other_key(question)) or "").strip()
                if other_text and self._other_chosen(question, value):
                    self.page_values[other_key(question)] = other_text
        return cleaned

    def _other_chosen(self, question: Question, value: Any) -> bool:
        other_values = {c.value for c in question.choices.all() if c.is_other}
        chosen = value if isinstance(value, list) else [value]
        return bool(other_values.intersection(chosen))

    def _error(self, question: Question, message: str, field: str | None = None) -> None:
        self.add_error(field or self.field_names(question)[0], message)

    def _check_question(self, question: Question, value: Any) -> None:
        if value_is_empty(value):
            if question.required and self.enforce_required:
                self._error(question, REQUIRED_MESSAGE)
            return
        errors = question_type(question.type).form_errors(
            question, value, self.cleaned_data, enforce_required=self.enforce_required
        )
        for field, message in errors:
            self._error(question, message, field)
        if other_key(question) in self.fields and self._other_chosen(question, value):
            other_text = (self.cleaned_data.get(other_key(question)) or "").strip()
            if not other_text:
                self.add_error(other_key(question), "Please specify your other answer.")

    def question_has_errors(self, question: Question) -> bool:
        names = [*self.field_names(question), other_key(question)]
        return any(name in self.errors for name in names)

    def values_to_keep(self) -> Answers:
        """After a failed validation, what to save all the same, so that a respondent never
        loses what was right: this page's answers that passed, and for a question that did not,
        the answer stored before (the refused input is shown again, not saved)."""
        kept: Answers = {}
        for question in self.questions:
            source = self.answers if self.question_has_errors(question) else self.page_values
            for key in (question.code, other_key(question)):
                if key in source:
                    kept[key] = source[key]
        return kept

    # Rendering -----------------------------------------------------------------------------

    def blocks(self) -> list[QuestionBlock]:
        """The questions to render: visible ones, and those whose condition is on this page."""
        merged: Answers = dict(self.answers)
        if self.is_bound and hasattr(self, "cleaned_data"):
            for question in self.questions:
                if not any(name in self.errors for name in self.field_names(question)):
                    merged[question.code] = self._value(question)
        on_page = {q.pk for q in self.questions}
        blocks = []
        for question in self.questions:
            condition_on_page = question.condition_question_id in on_page
            if not condition_on_page and not question_is_visible(question, merged):
                continue
            other = self[other_key(question)] if other_key(question) in self.fields else None
            block = QuestionBlock(
                question=question,
                fields=[self[name] for name in self.field_names(question)],
                other_field=other,
                condition_on_page=condition_on_page,
            )
            self._describe_errors(block)
            blocks.append(block)
        return blocks

    def _describe_errors(self, block: QuestionBlock) -> None:
        """Tie the question's error message to the inputs Django renders (a fieldset of radios
        or checkboxes is described by the template); only inputs with errors are invalid.
        Setting aria-describedby also stops Django pointing at an error id we do not render."""
        if not block.errors_for_question:
            return
        bound = question_type(block.question.type).described_fields(block.question, block.fields)
        if block.other_field is not None:
            bound.append(block.other_field)
        error_id = f"{block.dom_id}-error"
        for field in bound:
            attrs = self.fields[field.name].widget.attrs
            described = attrs.get("aria-describedby", "")
            if error_id not in described.split():
                attrs["aria-describedby"] = f"{described} {error_id}".strip()
            if field.errors:
                attrs["aria-invalid"] = "true"

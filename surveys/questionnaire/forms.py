"""The form of one questionnaire page, built from its questions.

Every field is optional at the Django level; whether a question must be answered depends on
whether it is visible (conditional display), so `clean()` decides that. Field names are the
question code, or the code with a suffix that a code cannot contain ("-other", "-row-3",
"-rank-1").
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django_countries import countries

from surveys.models import Question
from surveys.questionnaire.structure import Answers, other_key, question_is_visible, value_is_empty

REQUIRED_MESSAGE = "Please answer this question."
DEFAULT_SHORT_TEXT_LENGTH = 300
DEFAULT_LONG_TEXT_LENGTH = 5000


def row_key(question: Question, statement_value: int) -> str:
    return f"{question.code}-row-{statement_value}"


def rank_key(question: Question, rank: int) -> str:
    return f"{question.code}-rank-{rank}"


def rank_count(question: Question) -> int:
    return int(question.options.get("rank_count") or question.choices.count())


def exclusive_message(label: str) -> str:
    return f"“{label}” cannot be combined with other answers: untick it or untick the others."


def ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


GROUP_TYPES = {
    Question.Type.SINGLE_CHOICE,
    Question.Type.MULTIPLE_CHOICE,
    Question.Type.RATING,
    Question.Type.MATRIX,
    Question.Type.YES_NO,
    Question.Type.RANKING,
}


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
        question = self.question
        dropdown = question.options.get("widget") == "dropdown"
        return question.type in GROUP_TYPES and not (
            question.type == Question.Type.SINGLE_CHOICE and dropdown
        )

    @property
    def has_errors(self) -> bool:
        return bool(self.all_errors)

    @property
    def errors_for_question(self) -> list[str]:
        """Errors shown once for the question (matrix rows show their own)."""
        bound = [] if self.question.type == Question.Type.MATRIX else self.fields
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
        value = self.answers.get(question.code)
        kind = question.type
        choices = [(str(c.value), c.label) for c in question.choices.all()]
        described_by = f"q-{question.code}-help" if question.help_text else None

        def attrs(**extra: str) -> dict[str, str]:
            base = {"aria-describedby": described_by} if described_by else {}
            return {**base, **extra}

        if kind in (Question.Type.SINGLE_CHOICE, Question.Type.RATING, Question.Type.YES_NO):
            dropdown = (
                kind == Question.Type.SINGLE_CHOICE and question.options.get("widget") == "dropdown"
            )
            widget: forms.Widget = (
                forms.Select(attrs=attrs())
                if dropdown
                else forms.RadioSelect(attrs={"class": "choice-input"})
            )
            field_choices = [("", "Choose…"), *choices] if dropdown else choices
            self.fields[question.code] = forms.ChoiceField(
                choices=field_choices,
                required=False,
                widget=widget,
                label=question.text,
                initial=str(value) if value is not None else None,
            )
        elif kind == Question.Type.MULTIPLE_CHOICE:
            self.fields[question.code] = forms.MultipleChoiceField(
                choices=choices,
                required=False,
                widget=forms.CheckboxSelectMultiple(attrs={"class": "choice-input"}),
                label=question.text,
                initial=[str(v) for v in value or []],
            )
        elif kind == Question.Type.MATRIX:
            value = value or {}
            for statement in question.statements.all():
                chosen = value.get(statement.value)
                self.fields[row_key(question, statement.value)] = forms.ChoiceField(
                    choices=choices,
                    required=False,
                    widget=forms.RadioSelect(attrs={"class": "choice-input"}),
                    label=statement.text,
                    initial=str(chosen) if chosen is not None else None,
                )
        elif kind == Question.Type.RANKING:
            value = value or []
            for rank in range(1, rank_count(question) + 1):
                chosen = value[rank - 1] if rank <= len(value) else None
                self.fields[rank_key(question, rank)] = forms.ChoiceField(
                    choices=[("", "Choose…"), *choices],
                    required=False,
                    widget=forms.Select(attrs=attrs()),
                    label=f"{ordinal(rank)} choice",
                    initial=str(chosen) if chosen is not None else None,
                )
        elif kind in (Question.Type.SHORT_TEXT, Question.Type.LONG_TEXT):
            long = kind == Question.Type.LONG_TEXT
            max_length = int(
                question.options.get("max_length")
                or (DEFAULT_LONG_TEXT_LENGTH if long else DEFAULT_SHORT_TEXT_LENGTH)
            )
            widget = (
                forms.Textarea(attrs=attrs(rows="5", maxlength=str(max_length)))
                if long
                else forms.TextInput(attrs=attrs(maxlength=str(max_length)))
            )
            self.fields[question.code] = forms.CharField(
                max_length=max_length,
                required=False,
                widget=widget,
                label=question.text,
                initial=value,
            )
        elif kind == Question.Type.NUMBER:
            options = question.options
            min_value = options.get("min_value")
            max_value = options.get("max_value")
            places = options.get("decimal_places", 0)
            self.fields[question.code] = forms.DecimalField(
                required=False,
                min_value=Decimal(str(min_value)) if min_value is not None else None,
                max_value=Decimal(str(max_value)) if max_value is not None else None,
                decimal_places=places,
                max_digits=14,
                widget=forms.NumberInput(attrs=attrs(inputmode="decimal" if places else "numeric")),
                label=question.text,
                initial=value,
            )
        elif kind == Question.Type.COUNTRY:
            country_choices = [(code, str(name)) for code, name in countries]
            if question.options.get("multiple"):
                self.fields[question.code] = forms.MultipleChoiceField(
                    choices=country_choices,
                    required=False,
                    widget=forms.SelectMultiple(
                        attrs=attrs(size="8", **{"data-country-search": "multiple"})
                    ),
                    label=question.text,
                    initial=value or [],
                )
            else:
                self.fields[question.code] = forms.ChoiceField(
                    choices=[("", "Choose a country…"), *country_choices],
                    required=False,
                    widget=forms.Select(attrs=attrs(**{"data-country-search": "single"})),
                    label=question.text,
                    initial=value,
                )
        if any(c.is_other for c in question.choices.all()):
            self.fields[other_key(question)] = forms.CharField(
                max_length=DEFAULT_SHORT_TEXT_LENGTH,
                required=False,
                label="Please specify",
                initial=self.answers.get(other_key(question), ""),
            )

    # Reading -------------------------------------------------------------------------------

    def field_names(self, question: Question) -> list[str]:
        if question.type == Question.Type.MATRIX:
            return [row_key(question, s.value) for s in question.statements.all()]
        if question.type == Question.Type.RANKING:
            return [rank_key(question, r) for r in range(1, rank_count(question) + 1)]
        return [question.code]

    def _value(self, question: Question) -> Any:
        data = self.cleaned_data
        kind = question.type
        if kind == Question.Type.MATRIX:
            return {
                s.value: int(data[row_key(question, s.value)])
                for s in question.statements.all()
                if data.get(row_key(question, s.value))
            }
        if kind == Question.Type.RANKING:
            return [int(v) for name in self.field_names(question) if (v := data.get(name))]
        raw = data.get(question.code)
        if kind == Question.Type.MULTIPLE_CHOICE:
            return [int(v) for v in raw or []]
        if kind in Question.CHOICE_TYPES:
            return int(raw) if raw not in (None, "") else None
        if kind == Question.Type.COUNTRY and question.options.get("multiple"):
            return list(raw or [])
        if isinstance(raw, str):
            return raw.strip()
        return raw

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
        kind = question.type
        options = question.options
        if value_is_empty(value):
            if question.required and self.enforce_required:
                self._error(question, REQUIRED_MESSAGE)
            return
        if kind == Question.Type.MULTIPLE_CHOICE:
            low, high = options.get("min_selections"), options.get("max_selections")
            exclusive = [c for c in question.choices.all() if c.is_exclusive and c.value in value]
            if exclusive and len(value) > 1:
                # The one message that matters: unticking fixes any count too.
                self._error(question, exclusive_message(exclusive[0].label))
            else:
                # "None of these" alone is a complete answer, whatever the minimum.
                if low and len(value) < int(low) and not exclusive:
                    self._error(question, f"Please choose at least {low} options.")
                if high and len(value) > int(high):
                    self._error(question, f"Please choose at most {high} options.")
        elif kind == Question.Type.MATRIX:
            if self.enforce_required and question.required:
                for statement in question.statements.all():
                    if statement.value not in value:
                        self._error(
                            question,
                            "Please rate this statement.",
                            row_key(question, statement.value),
                        )
        elif kind == Question.Type.RANKING:
            names = self.field_names(question)
            raw = [self.cleaned_data.get(name) for name in names]
            seen: set[str] = set()
            for name, chosen in zip(names, raw, strict=True):
                if chosen and chosen in seen:
                    self._error(question, "Each option can be ranked only once.", name)
                seen.add(chosen or "")
            filled = [bool(v) for v in raw]
            last_filled = max(i for i, is_filled in enumerate(filled) if is_filled)
            if not all(filled[: last_filled + 1]):
                self._error(question, "Please fill the ranks in order, without gaps.")
            if self.enforce_required and question.required and not all(filled):
                self._error(question, f"Please rank {len(names)} options.")
        if other_key(question) in self.fields and self._other_chosen(question, value):
            other_text = (self.cleaned_data.get(other_key(question)) or "").strip()
            if not other_text:
                self.add_error(other_key(question), "Please specify your other answer.")

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
        if block.question.type == Question.Type.RANKING:
            bound = list(block.fields)
        elif block.is_group:
            bound = []
        else:
            bound = [block.fields[0]]
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

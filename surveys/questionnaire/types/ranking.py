"""ranking: the top N choices (options.rank_count, default all) in order, a select per rank."""

from collections.abc import Callable
from typing import Any

from django import forms

from surveys.models import Answer, Question
from surveys.questionnaire.types.base import (
    ChoicesKind,
    ExportColumnSpec,
    FileCheck,
    FormErrors,
    value_suffix,
)


def rank_key(question: Question, rank: int) -> str:
    return f"{question.code}-rank-{rank}"


def rank_count(question: Question) -> int:
    return int(question.options.get("rank_count") or question.choices.count())


def ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


class Ranking(ChoicesKind):
    code = "ranking"
    summary = "most_chosen_ranked"
    several_answers = True
    options = {"rank_count": int}
    can_be_condition = False
    ordinal = True

    def check_file_options(
        self, *, options: dict[str, Any], choice_values: set[int], path: str, check: FileCheck
    ) -> None:
        count = options.get("rank_count")
        if isinstance(count, int) and not 1 <= count <= len(choice_values):
            check.add(f"{path}.options.rank_count", "between 1 and the number of choices")

    def field_names(self, question: Question) -> list[str]:
        return [rank_key(question, r) for r in range(1, rank_count(question) + 1)]

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        value = value or []
        choices = [("", "Choose…"), *self.field_choices(question)]
        fields: dict[str, forms.Field] = {}
        for rank in range(1, rank_count(question) + 1):
            chosen = value[rank - 1] if rank <= len(value) else None
            fields[rank_key(question, rank)] = forms.ChoiceField(
                choices=choices,
                required=False,
                widget=forms.Select(attrs=attrs()),
                label=f"{ordinal(rank)} choice",
                initial=str(chosen) if chosen is not None else None,
            )
        return fields

    def form_value(self, question: Question, data: dict[str, Any]) -> Any:
        return [int(v) for name in self.field_names(question) if (v := data.get(name))]

    def form_errors(
        self,
        question: Question,
        value: Any,
        data: dict[str, Any],
        *,
        enforce_required: bool,
    ) -> FormErrors:
        errors: FormErrors = []
        names = self.field_names(question)
        raw = [data.get(name) for name in names]
        seen: set[str] = set()
        for name, chosen in zip(names, raw, strict=True):
            if chosen and chosen in seen:
                errors.append((name, "Each option can be ranked only once."))
            seen.add(chosen or "")
        filled = [bool(v) for v in raw]
        last_filled = max(i for i, is_filled in enumerate(filled) if is_filled)
        if not all(filled[: last_filled + 1]):
            errors.append((None, "Please fill the ranks in order, without gaps."))
        if enforce_required and question.required and not all(filled):
            errors.append((None, f"Please rank {len(names)} options."))
        return errors

    def described_fields(self, question: Question, fields: list[Any]) -> list[Any]:
        # Each rank is its own select, described by the question's error.
        return list(fields)

    def answer_rows(
        self, question: Question, value: Any, choice_row: Callable[..., Answer]
    ) -> list[Answer]:
        return [choice_row(v, rank=rank) for rank, v in enumerate(value, start=1)]

    def display_lines(
        self, question: Question, value: Any, label: Callable[[int], str]
    ) -> list[str]:
        return [f"{rank}. {label(v)}" for rank, v in enumerate(value, start=1)]

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        return [
            ExportColumnSpec(
                value_suffix(choice.value),
                f"{question.text} [{choice.label}] (rank)",
                "numeric",
                "choice_rank",
                key=choice.pk,
                measure="ordinal",
            )
            for choice in question.choices.all()
        ]


TYPE = Ranking()

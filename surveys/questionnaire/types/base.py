"""What every question type says about itself, and the plain structures it says it with.

A type is one object (a subclass of QuestionKind) that the registry
(surveys.questionnaire.types) finds by its code. Forms, survey files, the answer rows, exports
and statistics ask it instead of switching on `Question.type`.

This package belongs to the questionnaire: it never imports surveys.results. Exports and
statistics pass their data in and read plain answers back: ExportColumnSpec (the columns a
question has and how its answer rows fill them) and AnswerFigures (a question's grouped counts,
from which a type shapes its statistics).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Literal, NotRequired, Protocol, TypedDict

from django import forms

from surveys.models import Answer, Choice, MatrixStatement, Question

Answers = dict[str, Any]
# The Python type(s) a survey file's option must have, by option name.
OptionTypes = dict[str, type | tuple[type, ...]]
# (field name or None for the question's first field, message)
FormErrors = list[tuple[str | None, str]]
# How a question's answer rows fold into its JSON value (QuestionKind.answer_json_shape).
AnswerJsonShape = Literal["text", "number", "country", "choice", "choices", "countries", "matrix"]

REQUIRED_MESSAGE = "Please answer this question."
CHOSEN_LABELS: dict[int | str, str] = {0: "Not chosen", 1: "Chosen"}

ONE_DECIMAL = Decimal("0.1")
TWO_DECIMALS = Decimal("0.01")


# A question's figures in the stats JSON (surveys.results.stats_types.QuestionStatistics adds
# the keys every question has: id, text, type, base). Typed here, where the types shape them.


class OptionStatistics(TypedDict):
    """A choice (value: its integer code), a country (its ISO code) or a month ("2024-05")."""

    value: int | str
    label: str
    count: int
    percent: float


class StatementStatistics(TypedDict):
    """A matrix statement: its own base, mean and options."""

    value: int
    text: str
    base: int
    mean: float | None
    options: list[OptionStatistics]


class QuestionFigures(TypedDict):
    """What a type adds to a question's entry: its options (empty for types without), and the
    keys of some types only."""

    options: NotRequired[list[OptionStatistics]]
    statements: NotRequired[list[StatementStatistics]]  # matrix
    answers_count: NotRequired[int]  # texts
    mean: NotRequired[float | None]  # rating, number
    earliest: NotRequired[str | None]  # date: ISO
    latest: NotRequired[str | None]  # date: ISO


def percent(part: int, whole: int) -> float:
    """part / whole as a percentage with one decimal, rounded half up; 0.0 when whole is 0."""
    if not whole:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(ONE_DECIMAL, ROUND_HALF_UP))


def mean_rounded(value: Any) -> float | None:
    """A mean as a float rounded half up to two decimals; None without answers."""
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(TWO_DECIMALS, ROUND_HALF_UP))


class FileCheck(Protocol):
    """Where a survey file's validation collects its errors (survey_files._Checker)."""

    def add(self, path: str, message: str) -> None: ...


# How the answer rows of a question fill an export column:
#   choice_value      the chosen choice's value (one column for all the question's choices)
#   choice_flag       1 when the choice `key` (a choice id) was chosen, 0 when the question
#                     was answered without it
#   choice_rank       the rank given to the choice `key`
#   statement_choice  the choice value given to the matrix statement `key` (a statement id)
#   country           the ISO code;  country_flag: 1 for the country `key`, 0 as choice_flag
#   text, number, date  the row's text, number, or ISO date text as a date
ColumnFill = Literal[
    "choice_value",
    "choice_flag",
    "choice_rank",
    "statement_choice",
    "country",
    "country_flag",
    "text",
    "number",
    "date",
]


@dataclass(frozen=True)
class ExportColumnSpec:
    """One export column of a question, in plain terms: the exports module names it (the
    question code + suffix, made SPSS-valid) and fills it from the answer rows."""

    suffix: str
    # The SPSS variable label.
    label: str
    kind: Literal["numeric", "text", "date"]
    fill: ColumnFill
    key: int | str | None = None
    value_labels: dict[int | str, str] = field(default_factory=dict)
    measure: Literal["nominal", "ordinal", "scale"] = "nominal"
    decimals: int = 0


@dataclass(frozen=True)
class AnswerFigures:
    """One question's grouped answer counts, as the statistics module counted them.

    counts: matrix statement id (None outside matrices) -> {choice id, ISO country code, or
    None for a text, number or date row: rows}. number_mean: AVG of the numbers (number
    questions). texts: {text: rows} (types that ask for "texts", e.g. ISO dates)."""

    base: int
    counts: dict[int | None, dict[Any, int]]
    number_mean: Any = None
    texts: dict[str, int] = field(default_factory=dict)


class QuestionKind:
    """The base of every question type: a free answer in one field, stored as text."""

    code: ClassVar[str]
    # Options a survey file may give, with their Python types.
    options: ClassVar[OptionTypes] = {}
    # Answers are choice rows (Choice), so choice values and labels mean something.
    uses_choices: ClassVar[bool] = False
    # A survey file must list choices.
    needs_choices: ClassVar[bool] = False
    # Choices given when a survey file lists none (yes/no); a file may list its own.
    default_choices: ClassVar[list[dict[str, Any]] | None] = None
    # Choices may be exclusive ("None of these").
    allows_exclusive_choices: ClassVar[bool] = False
    has_statements: ClassVar[bool] = False
    # Another question's show_if may name it (its answer is one or several choice values).
    can_be_condition: ClassVar[bool] = False
    # A report finding hint (a share of the base who chose some choices) makes sense.
    allows_finding: ClassVar[bool] = False
    # Export: ordinal or nominal codes (SPSS measure).
    ordinal: ClassVar[bool] = False
    # Export: the caller passes the countries chosen in the exported responses.
    export_lists_countries: ClassVar[bool] = False
    # Statistics: extra grouped queries the statistics module runs for this type
    # ("number_mean", "texts").
    statistics_needs: ClassVar[frozenset[str]] = frozenset()
    # Results: the rule by which the report sums the question up in a sentence (a name of
    # surveys.results.report.SUMMARY_SENTENCES; "" for none), how its figures are drawn
    # ("bars" of its options, "statements": a stacked scale per statement, "map": countries),
    # whether one respondent gives several answers (shares may add up to over 100%), and
    # whether its answers are free text the report may quote. Named here, worded there.
    summary: ClassVar[str] = ""
    chart: ClassVar[Literal["bars", "statements", "map"]] = "bars"
    several_answers: ClassVar[bool] = False
    quotable: ClassVar[bool] = False

    @property
    def template(self) -> str:
        """The partial that renders the question's inputs (inside _question.html)."""
        return f"surveys/types/{self.code}.html"

    # Survey files -----------------------------------------------------------------------------

    def check_file_options(
        self, *, options: dict[str, Any], choice_values: set[int], path: str, check: FileCheck
    ) -> None:
        """Checks beyond each option's Python type (done by survey_files)."""

    def stored_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """A file's options as kept in Question.options (JSON)."""
        return options

    # The form ---------------------------------------------------------------------------------

    def renders_as_group(self, question: Question) -> bool:
        """Rendered as a fieldset with a legend (radios, checkboxes, several selects), rather
        than one input with a label."""
        return False

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        """The form fields by name; `attrs(**extra)` gives the widget attributes that tie an
        input to the question's hint."""
        raise NotImplementedError

    def field_names(self, question: Question) -> list[str]:
        return [question.code]

    def form_value(self, question: Question, data: dict[str, Any]) -> Any:
        """The answer value from the form's cleaned data."""
        raw = data.get(question.code)
        if isinstance(raw, str):
            return raw.strip()
        return raw

    def form_errors(
        self,
        question: Question,
        value: Any,
        data: dict[str, Any],
        *,
        enforce_required: bool,
    ) -> FormErrors:
        """What is wrong with a non-empty answer value (required-ness of an empty one is the
        form's)."""
        return []

    def error_fields(self, question: Question, fields: list[Any]) -> list[Any]:
        """The bound fields whose errors are shown once for the question."""
        return fields

    def described_fields(self, question: Question, fields: list[Any]) -> list[Any]:
        """The bound fields that the question's error message describes (aria-describedby);
        a fieldset is described by the template instead."""
        return [] if self.renders_as_group(question) else fields[:1]

    # Answer rows ------------------------------------------------------------------------------

    def add_row_value(
        self,
        answers: Answers,
        question: Question,
        row: Answer,
        choice: Choice | None,
        statement: MatrixStatement | None,
    ) -> None:
        """Put one stored answer row's part of the answer value into `answers`."""
        answers[question.code] = row.text

    def answer_json_shape(self, question: Question) -> AnswerJsonShape:
        """How add_row_value folds the rows into the value, so that the API's pages fold them
        the same way in one loop (structure.answers_json_for_responses): "text", "number",
        "country" (the last row's column), "choice" (the last row's choice value), "choices" or
        "countries" (a list in row order), "matrix" (statement value -> choice value)."""
        return "text"

    def answer_rows(
        self, question: Question, value: Any, choice_row: Callable[..., Answer]
    ) -> list[Answer]:
        """Unsaved answer rows for a non-empty value; `choice_row(choice value, **fields)`
        makes a choice's row (with its "Other" text)."""
        return [Answer(question=question, text=str(value))]

    def display_lines(
        self, question: Question, value: Any, label: Callable[[int], str]
    ) -> list[str]:
        """Human-readable lines of a non-empty value; `label(choice value)` is a choice's
        label (with its "Other" text)."""
        return [str(value)]

    # Exports ----------------------------------------------------------------------------------

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        return [ExportColumnSpec("", question.text, "text", "text")]

    # Statistics -------------------------------------------------------------------------------

    def answers_vary_per_response(self, question: Question) -> bool:
        """Whether one response may hold several rows for the question (its base is then a
        distinct count of responses, not a count of rows)."""
        return False

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        """The question's figures beyond id, text, type, base and options (the stats JSON)."""
        return {}


class ChoiceKind(QuestionKind):
    """Answers are chosen choices: one choice row, a value."""

    uses_choices = True
    needs_choices = True
    can_be_condition = True
    allows_finding = True

    def renders_as_group(self, question: Question) -> bool:
        return True

    def field_choices(self, question: Question) -> list[tuple[str, str]]:
        return [(str(c.value), c.label) for c in question.choices.all()]

    def form_fields(
        self, question: Question, value: Any, attrs: Callable[..., dict[str, str]]
    ) -> dict[str, forms.Field]:
        return {
            question.code: forms.ChoiceField(
                choices=self.field_choices(question),
                required=False,
                widget=forms.RadioSelect(attrs={"class": "choice-input"}),
                label=question.text,
                initial=str(value) if value is not None else None,
            )
        }

    def form_value(self, question: Question, data: dict[str, Any]) -> Any:
        raw = data.get(question.code)
        return int(raw) if raw not in (None, "") else None

    def add_row_value(
        self,
        answers: Answers,
        question: Question,
        row: Answer,
        choice: Choice | None,
        statement: MatrixStatement | None,
    ) -> None:
        assert choice is not None
        answers[question.code] = choice.value

    def answer_json_shape(self, question: Question) -> AnswerJsonShape:
        return "choice"

    def answer_rows(
        self, question: Question, value: Any, choice_row: Callable[..., Answer]
    ) -> list[Answer]:
        return [choice_row(value)]

    def display_lines(
        self, question: Question, value: Any, label: Callable[[int], str]
    ) -> list[str]:
        return [label(value)]

    def export_columns(
        self, question: Question, chosen_countries: list[str]
    ) -> list[ExportColumnSpec]:
        return [
            ExportColumnSpec(
                "",
                question.text,
                "numeric",
                "choice_value",
                value_labels={c.value: c.label for c in question.choices.all()},
                measure="ordinal" if self.ordinal else "nominal",
            )
        ]

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        return {"options": choice_options(question, figures.counts.get(None, {}), figures.base)}


class ChoicesKind(ChoiceKind):
    """Answers are several chosen choices: a row each, a list of values."""

    def add_row_value(
        self,
        answers: Answers,
        question: Question,
        row: Answer,
        choice: Choice | None,
        statement: MatrixStatement | None,
    ) -> None:
        assert choice is not None
        answers.setdefault(question.code, []).append(choice.value)

    def answer_json_shape(self, question: Question) -> AnswerJsonShape:
        return "choices"

    def display_lines(
        self, question: Question, value: Any, label: Callable[[int], str]
    ) -> list[str]:
        return [label(v) for v in value]

    def answers_vary_per_response(self, question: Question) -> bool:
        return True


def value_suffix(value: int) -> str:
    """A choice or statement value as a column name suffix ("-" cannot be in an SPSS name)."""
    return f"_m{-value}" if value < 0 else f"_{value}"


def choice_options(question: Question, counts: dict[Any, int], base: int) -> list[OptionStatistics]:
    """Every choice in questionnaire order, chosen or not, with its share of the base."""
    return [
        {
            "value": choice.value,
            "label": choice.label,
            "count": counts.get(choice.pk, 0),
            "percent": percent(counts.get(choice.pk, 0), base),
        }
        for choice in question.choices.all()
    ]


def choice_mean(question: Question, counts: dict[Any, int]) -> float | None:
    """Mean scale value from the grouped counts (one choice per response on a scale)."""
    values = {choice.pk: choice.value for choice in question.choices.all()}
    total = sum(count for key, count in counts.items() if key in values)
    if not total:
        return None
    weighted = sum(values[key] * count for key, count in counts.items() if key in values)
    return mean_rounded(Decimal(weighted) / Decimal(total))

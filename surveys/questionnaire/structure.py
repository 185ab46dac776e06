"""The questionnaire as respondents see it: its pages, which questions are visible, and the
conversion between answer rows and answer values.

An answer *value* is the Python form of one question's answer, shared by forms, services and
the review page:
  single choice, rating, yes/no -> int;  multiple choice -> list[int];  ranking -> list[int]
  in rank order;  matrix -> dict[statement value, choice value];  country -> str or list[str];
  text -> str;  number -> Decimal;  date -> str (ISO, YYYY-MM-DD).  "Other, please specify"
  texts live under "<code>-other".
Each type's module (surveys.questionnaire.types) converts its own values and rows.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Prefetch

from surveys.models import Answer, Choice, MatrixStatement, Page, Question, Response, Survey
from surveys.questionnaire.types import question_type
from surveys.questionnaire.types.base import Answers
from surveys.questionnaire.types.number import plain_number

# Answers and plain_number are shared with forms, services and exports from here.
__all__ = ["Answers", "plain_number"]


def other_key(question: Question) -> str:
    return f"{question.code}-other"


@dataclass
class Questionnaire:
    """A survey's pages and questions, loaded in a fixed number of queries."""

    survey: Survey
    pages: list[Page]
    questions_by_page: dict[int, list[Question]] = field(default_factory=dict)

    @property
    def questions(self) -> list[Question]:
        return [q for page in self.pages for q in self.questions_by_page[page.pk]]

    def page_questions(self, page: Page) -> list[Question]:
        return self.questions_by_page[page.pk]

    def page_number(self, page: Page) -> int:
        return self.pages.index(page) + 1

    def page_at(self, number: int) -> Page | None:
        if 1 <= number <= len(self.pages):
            return self.pages[number - 1]
        return None

    def visible_questions(self, page: Page, answers: Answers) -> list[Question]:
        return [q for q in self.page_questions(page) if question_is_visible(q, answers)]

    def next_page_number(self, number: int, answers: Answers, step: int = 1) -> int:
        """The next page (step=1) or previous page (step=-1) with a visible question, skipping
        pages whose questions are all hidden. Returns 0 before the first page and
        len(pages) + 1 after the last (the review page)."""
        number += step
        while 1 <= number <= len(self.pages):
            if self.visible_questions(self.pages[number - 1], answers):
                return number
            number += step
        return max(0, min(number, len(self.pages) + 1))


# Per-process cache of questionnaires by (survey id, structure version): loading one costs four
# queries and building every question; each respondent request needs it. Entries are read-only.
_CACHE: dict[tuple, tuple[list[Page], dict[int, list[Question]]]] = {}
_CACHE_SIZE = 64


def questionnaire_load(survey: Survey) -> Questionnaire:
    """The survey's pages and questions, from the process cache when the survey's structure has
    not changed since it was loaded."""
    # created_at too: SQLite reuses the id of a deleted survey.
    key = (survey.pk, survey.created_at, survey.structure_version)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _questionnaire_query(survey)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cached
    pages, by_page = cached
    return Questionnaire(survey=survey, pages=pages, questions_by_page=by_page)


def _questionnaire_query(survey: Survey) -> tuple[list[Page], dict[int, list[Question]]]:
    questions = (
        Question.objects.filter(survey=survey)
        .select_related("condition_question")
        .prefetch_related(
            Prefetch("choices", queryset=Choice.objects.order_by("order", "id")),
            Prefetch("statements", queryset=MatrixStatement.objects.order_by("order", "id")),
        )
        .order_by("order", "id")
    )
    pages = list(Page.objects.filter(survey=survey).order_by("order", "id"))
    by_page: dict[int, list[Question]] = {page.pk: [] for page in pages}
    for question in questions:
        by_page.setdefault(question.page_id, []).append(question)
    return pages, by_page


def value_is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def visible_answers(questionnaire: "Questionnaire", answers: Answers) -> Answers:
    """The answers that count: those of visible questions, deciding visibility in question
    order so that a chain of conditions (A shows B, B shows C) is followed."""
    result: Answers = {}
    for question in questionnaire.questions:
        if question.code in answers and question_is_visible(question, result):
            result[question.code] = answers[question.code]
            if other_key(question) in answers:
                result[other_key(question)] = answers[other_key(question)]
    return result


def question_is_visible(question: Question, answers: Answers) -> bool:
    """A question with a condition shows only when the earlier answer has one of the values."""
    condition = question.condition_question
    if condition is None:
        return True
    wanted = {int(v) for v in question.condition_values}
    value = answers.get(condition.code)
    if value_is_empty(value):
        return False
    if isinstance(value, list):
        return bool(wanted.intersection(int(v) for v in value))
    if isinstance(value, int):
        return value in wanted
    return False


def answers_for_response(response: Response | None, questionnaire: Questionnaire) -> Answers:
    """Answer values of a response, keyed by question code (one query)."""
    if response is None:
        return {}
    rows = Answer.objects.filter(response=response).order_by("question_id", "rank", "id")
    return _answers_folded(rows, questionnaire).get(response.pk, {})


def _answers_folded(rows: Iterable[Answer], questionnaire: Questionnaire) -> dict[int, Answers]:
    by_id = {q.pk: q for q in questionnaire.questions}
    # Keyed by the rows' nullable foreign keys: a row of the question's kind has them set.
    choices: dict[int | None, Choice] = {
        c.pk: c for q in questionnaire.questions for c in q.choices.all()
    }
    statements: dict[int | None, MatrixStatement] = {
        s.pk: s for q in questionnaire.questions for s in q.statements.all()
    }
    result: dict[int, Answers] = {}
    for row in rows:
        question = by_id.get(row.question_id)
        if question is None:
            continue
        answers = result.setdefault(row.response_id, {})
        choice = choices[row.choice_id] if row.choice_id else None
        statement = statements[row.statement_id] if row.statement_id else None
        question_type(question.type).add_row_value(
            answers,
            question,
            row,
            choice,
            statement,
        )
        if row.choice_id and choices[row.choice_id].is_other and row.text:
            answers[other_key(question)] = row.text
    return result


def answers_json_for_responses(
    response_ids: list[int], questionnaire: Questionnaire
) -> dict[int, dict[str, Any]]:
    """answers_as_json of each response's answers (answers_for_response), by response id, in
    one query: the API's page of responses. The rows are folded by the shape each type declares
    (answer_json_shape) in one loop, straight into JSON values: going through add_row_value,
    Decimal and answers_as_json was most of a page's time (bench/api.py).
    tests/questionnaire/test_question_type_registry.py checks it against answers_for_response
    for every type."""
    if not response_ids:
        return {}
    questions = {
        q.pk: (q.code, question_type(q.type).answer_json_shape(q), other_key(q))
        for q in questionnaire.questions
    }
    choice_values = {c.pk: c.value for q in questionnaire.questions for c in q.choices.all()}
    others = {c.pk for q in questionnaire.questions for c in q.choices.all() if c.is_other}
    statement_values = {
        s.pk: str(s.value) for q in questionnaire.questions for s in q.statements.all()
    }
    result: dict[int, dict[str, Any]] = {}
    answers: dict[str, Any] = {}
    current = None
    for response_id, question_id, choice_id, statement_id, country, text, number in _json_rows(
        response_ids
    ):
        question = questions.get(question_id)
        if question is None:
            continue
        if response_id != current:
            current = response_id
            answers = result[response_id] = {}
        code, shape, other = question
        if shape == "choice":
            answers[code] = choice_values[choice_id]
        elif shape == "choices":
            answers.setdefault(code, []).append(choice_values[choice_id])
        elif shape == "matrix":
            answers.setdefault(code, {})[statement_values[statement_id]] = choice_values[choice_id]
        elif shape == "text":
            answers[code] = text
        elif shape == "country":
            answers[code] = str(country)
        elif shape == "countries":
            answers.setdefault(code, []).append(str(country))
        else:  # number
            answers[code] = _number_json(number)
        if choice_id in others and text:
            answers[other] = text
    return result


_JSON_ROW_COLUMNS = (
    "response_id",
    "question_id",
    "choice_id",
    "statement_id",
    "country",
    "text",
    "number",
)


def _json_rows(response_ids: list[int]) -> Iterable[tuple[Any, ...]]:
    """The answer rows of the responses in add_row_value's order. On PostgreSQL a plain
    cursor with the ids as one array: Django's IN list of 1,000 parameters and its row
    converters took as long as the query (bench/api.py)."""
    ordered = ("response_id", "question_id", "rank", "id")
    if connection.vendor != "postgresql":
        return (
            Answer.objects.filter(response_id__in=response_ids)
            .order_by(*ordered)
            .values_list(*_JSON_ROW_COLUMNS)
        )
    column = {field.attname: str(field.column) for field in Answer._meta.concrete_fields}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(column[name] for name in _JSON_ROW_COLUMNS)} "
            f"FROM {Answer._meta.db_table} WHERE {column['response_id']} = ANY(%s) "
            f"ORDER BY {', '.join(column[name] for name in ordered)}",
            [list(response_ids)],
        )
        return cursor.fetchall()


def _number_json(number: Decimal | None) -> int | float | None:
    """answers_as_json(plain_number(number))."""
    if number is None:
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def answers_as_json(answers: Answers) -> dict[str, Any]:
    """Answer values as JSON: numbers for decimals, text keys for a matrix's statements."""
    result: dict[str, Any] = {}
    for code, value in answers.items():
        if isinstance(value, dict):
            result[code] = {str(k): v for k, v in value.items()}
        elif isinstance(value, Decimal):
            result[code] = int(value) if value == value.to_integral_value() else float(value)
        else:
            result[code] = value
    return result


def answer_rows(question: Question, value: Any, answers: Answers) -> list[Answer]:
    """Unsaved answer rows (without response) for one question's value."""
    if value_is_empty(value):
        return []
    choices = {c.value: c for c in question.choices.all()}
    other_text = answers.get(other_key(question), "")

    def choice_row(choice_value: int, **extra: Any) -> Answer:
        choice = choices[choice_value]
        text = other_text if choice.is_other else ""
        return Answer(question=question, choice=choice, text=text, **extra)

    return question_type(question.type).answer_rows(question, value, choice_row)


def display_value(question: Question, answers: Answers) -> list[str]:
    """Human-readable lines of one answer, for the review page and read-only copy."""
    value = answers.get(question.code)
    if value_is_empty(value):
        return []
    labels = {c.value: c.label for c in question.choices.all()}
    other_text = answers.get(other_key(question), "")

    def label(choice_value: int) -> str:
        text = labels.get(choice_value, str(choice_value))
        chosen_other = any(c.is_other and c.value == choice_value for c in question.choices.all())
        return f"{text}: {other_text}" if chosen_other and other_text else text

    return question_type(question.type).display_lines(question, value, label)

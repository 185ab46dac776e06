"""The registry of question types: each type is one module of this package, registered here
by its code (healthchecks registers its transports the same way). Callers ask
`question_type(question.type)` what a type does instead of switching on the code.

Adding a type: its module (a QuestionKind subclass and TYPE), its partial
templates/surveys/types/<code>.html, its code in surveys.models.QuestionType (the database's
list, with a migration) and its tests; tests/questionnaire/test_question_type_registry.py
checks that the registry and the database's list agree.
"""

from surveys.questionnaire.types import (
    country,
    date,
    long_text,
    matrix,
    multiple_choice,
    number,
    ranking,
    rating,
    short_text,
    single_choice,
    yes_no,
)
from surveys.questionnaire.types.base import QuestionKind

# In the order of QuestionType (messages list the codes in this order).
QUESTION_TYPES: dict[str, QuestionKind] = {
    kind.code: kind
    for kind in (
        single_choice.TYPE,
        multiple_choice.TYPE,
        rating.TYPE,
        matrix.TYPE,
        yes_no.TYPE,
        short_text.TYPE,
        long_text.TYPE,
        number.TYPE,
        country.TYPE,
        ranking.TYPE,
        date.TYPE,
    )
}


class UnknownQuestionType(LookupError):
    """A question type code that no module registers."""


def question_type(code: str) -> QuestionKind:
    """The type registered under `code`; UnknownQuestionType for any other code."""
    try:
        return QUESTION_TYPES[code]
    except KeyError:
        raise UnknownQuestionType(
            f"unknown question type {code!r}: known types are {', '.join(QUESTION_TYPES)}"
        ) from None

"""rating: one point of a scale, as radios in a row; its statistics have a mean."""

from surveys.models import Question
from surveys.questionnaire.types.base import AnswerFigures, ChoiceKind, QuestionFigures, choice_mean


class Rating(ChoiceKind):
    code = "rating"
    summary = "top_box"
    ordinal = True

    def statistics(self, question: Question, figures: AnswerFigures) -> QuestionFigures:
        counts = figures.counts.get(None, {})
        return {**super().statistics(question, figures), "mean": choice_mean(question, counts)}


TYPE = Rating()

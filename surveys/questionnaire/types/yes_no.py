"""yes_no: Yes (1) or No (0), as radios; a survey file may relabel the two choices."""

from surveys.questionnaire.types.base import ChoiceKind


class YesNo(ChoiceKind):
    code = "yes_no"
    summary = "yes_share"
    needs_choices = False
    default_choices = [{"value": 1, "label": "Yes"}, {"value": 0, "label": "No"}]


TYPE = YesNo()

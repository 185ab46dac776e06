"""long_text: several lines of text."""

from collections.abc import Callable

from django import forms

from surveys.questionnaire.types.text import TextKind

DEFAULT_LONG_TEXT_LENGTH = 5000


class LongText(TextKind):
    code = "long_text"
    default_max_length = DEFAULT_LONG_TEXT_LENGTH

    def widget(self, attrs: Callable[..., dict[str, str]], max_length: int) -> forms.Widget:
        return forms.Textarea(attrs=attrs(rows="5", maxlength=str(max_length)))


TYPE = LongText()

"""short_text: one line of text."""

from collections.abc import Callable

from django import forms

from surveys.questionnaire.types.text import TextKind

DEFAULT_SHORT_TEXT_LENGTH = 300


class ShortText(TextKind):
    code = "short_text"
    default_max_length = DEFAULT_SHORT_TEXT_LENGTH

    def widget(self, attrs: Callable[..., dict[str, str]], max_length: int) -> forms.Widget:
        return forms.TextInput(attrs=attrs(maxlength=str(max_length)))


TYPE = ShortText()

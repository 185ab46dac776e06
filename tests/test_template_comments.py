"""Django's {# #} comments end at the line's end: one spanning lines is printed on the page as
it is. Every template of the project uses {% comment %} for more than one line."""

import re
from pathlib import Path

import pytest
from django.conf import settings

TEMPLATE_DIRS = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]] + sorted(  # type: ignore[attr-defined]  # django-stubs types TEMPLATES entries as object
    Path(settings.BASE_DIR).glob("*/templates")
)
TEMPLATES = sorted(
    {p for d in TEMPLATE_DIRS for p in d.rglob("*.html")}
    | {p for d in TEMPLATE_DIRS for p in d.rglob("*.txt")}
)


def test_the_templates_are_found():
    assert any(p.name == "base.html" for p in TEMPLATES)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(settings.BASE_DIR)))
def test_no_single_line_comment_spans_lines(path: Path):
    unclosed = [
        number
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\{#(?!.*#\})", line)
    ]
    assert unclosed == [], f"{{# without #}} on the same line, at lines {unclosed}"

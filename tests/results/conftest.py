"""Fixtures shared by the results tests."""

import pytest

from surveys.questionnaire import structure as questionnaire


@pytest.fixture
def fresh_questionnaire_cache() -> None:
    """The questionnaire cache is keyed by (survey id, structure version), and SQLite hands out
    a rolled-back test's ids again: without this, a survey could get another test's questions
    (not a problem on PostgreSQL, whose sequences never go back)."""
    questionnaire._CACHE.clear()


@pytest.fixture
def statistics_query_bound() -> int:
    """The most queries survey_statistics makes, whatever the survey's size: filter checks (2),
    the grouped passes (11), the questionnaire when not cached (4), spare (1)."""
    return 18

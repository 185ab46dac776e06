"""SQLite's answer triggers (0020) join the answer's question, as PostgreSQL's functions do,
instead of reading its survey through a scalar subquery: an answer deleted after its question
is gone writes no delta, where it wrote one with no survey and failed ("NOT NULL constraint
failed: surveys_statsdelta.survey_id").

Django's SQLite flush deletes the tables in the order of a set, which changes with the hash
seed; when the questions went first, the flush between two tests failed and left the next test
the rows of the last one. PostgreSQL is unchanged: its flush is a TRUNCATE, and its functions
already join the questions."""

import importlib

from django.db import migrations

_base = importlib.import_module("surveys.migrations.0014_summaries_triggers")
_previous = importlib.import_module("surveys.migrations.0020_summaries_scopes_triggers")
_TEXT_TYPES_SQL = ", ".join(f"'{t}'" for t in _base.TEXT_TYPES)
_COLUMNS = "INSERT INTO surveys_statsdelta (survey_id, key, count, amount, response_id)"


def _question(row: str) -> str:
    """The question of the row, as the source of every delta: no row once it is gone."""
    return f"FROM surveys_question q WHERE q.id = {row}.question_id"


def _answer_keys(row: str, sign: str) -> list[str]:
    return [
        f"{_COLUMNS} SELECT q.survey_id, 'a|' || {row}.question_id || '|' "
        f"|| COALESCE({row}.statement_id, '') || '|' || COALESCE({row}.choice_id, '') || '|' "
        f"|| {row}.country, {sign}, NULL, {row}.response_id {_question(row)};",
        f"{_COLUMNS} SELECT q.survey_id, 'n|' || {row}.question_id, {sign}, "
        f"{sign} * {row}.number, {row}.response_id {_question(row)} "
        f"AND {row}.number IS NOT NULL;",
        f"{_COLUMNS} SELECT q.survey_id, 't|' || {row}.question_id || '|' || {row}.text, {sign}, "
        f"NULL, {row}.response_id {_question(row)} AND q.type IN ({_TEXT_TYPES_SQL});",
    ]


def _rows_of_pair(row: str) -> str:
    return (
        f"(SELECT COUNT(*) FROM surveys_answer a WHERE a.response_id = {row}.response_id "
        f"AND a.question_id = {row}.question_id)"
    )


def _base_key(row: str, sign: str, when: str) -> str:
    return (
        f"{_COLUMNS} SELECT q.survey_id, 'b|' || {row}.question_id, {sign}, NULL, "
        f"{row}.response_id {_question(row)} AND {when};"
    )


_MOVED = "(NEW.response_id IS NOT OLD.response_id OR NEW.question_id IS NOT OLD.question_id)"

SQLITE_TRIGGERS = [
    _base._sqlite_trigger(
        "stats_answer_insert",
        "INSERT",
        "surveys_answer",
        [*_answer_keys("NEW", "1"), _base_key("NEW", "1", _rows_of_pair("NEW") + " = 1")],
    ),
    _base._sqlite_trigger(
        "stats_answer_delete",
        "DELETE",
        "surveys_answer",
        [*_answer_keys("OLD", "-1"), _base_key("OLD", "-1", _rows_of_pair("OLD") + " = 0")],
    ),
    _base._sqlite_trigger(
        "stats_answer_update",
        "UPDATE",
        "surveys_answer",
        [
            *_answer_keys("OLD", "-1"),
            *_answer_keys("NEW", "1"),
            _base_key("OLD", "-1", f"{_MOVED} AND {_rows_of_pair('OLD')} = 0"),
            _base_key("NEW", "1", f"{_MOVED} AND {_rows_of_pair('NEW')} = 1"),
        ],
    ),
]


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    _previous._install(schema_editor, [], SQLITE_TRIGGERS)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    _previous._install(schema_editor, [], _previous.SQLITE_TRIGGERS)


class Migration(migrations.Migration):
    dependencies = [("surveys", "0021_summaries_bigint_ids")]

    operations = [migrations.RunPython(forwards, backwards)]

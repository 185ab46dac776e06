"""The answer triggers of 0014_summaries_triggers, writing the response of each delta too
(StatsDelta.response_id): the fold counts a delta in the scopes of that response's invitation
(surveys/results/summaries.py). The same keys and the same rows otherwise: a page save writes
the answers of one response, so grouping by response adds no delta row."""

import importlib

from django.db import migrations

_base = importlib.import_module("surveys.migrations.0014_summaries_triggers")
_TEXT_TYPES_SQL = ", ".join(f"'{t}'" for t in _base.TEXT_TYPES)

# ---------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_answer_keys(rows: str, sign: str) -> str:
    return f"""
        SELECT r.question_id, r.response_id, 'a|' || r.question_id || '|'
               || COALESCE(r.statement_id::text, '') || '|' || COALESCE(r.choice_id::text, '')
               || '|' || r.country AS key, {sign} AS count, NULL::numeric AS amount
          FROM {rows} r
        UNION ALL
        SELECT r.question_id, r.response_id, 'n|' || r.question_id, {sign}, {sign} * r.number
          FROM {rows} r WHERE r.number IS NOT NULL
        UNION ALL
        SELECT r.question_id, r.response_id, 't|' || r.question_id || '|' || r.text, {sign}, NULL
          FROM {rows} r JOIN surveys_question tq ON tq.id = r.question_id
         WHERE tq.type IN ({_TEXT_TYPES_SQL})"""


def _pg_base_keys(new: str | None, old: str | None) -> str:
    pairs = " UNION ".join(
        f"SELECT DISTINCT response_id, question_id FROM {t}" for t in (new, old) if t is not None
    )
    new_count = (
        f"(SELECT COUNT(*) FROM {new} x WHERE x.response_id = p.response_id "
        "AND x.question_id = p.question_id)"
        if new
        else "0"
    )
    old_count = (
        f"(SELECT COUNT(*) FROM {old} x WHERE x.response_id = p.response_id "
        "AND x.question_id = p.question_id)"
        if old
        else "0"
    )
    return f"""
        SELECT p.question_id, p.response_id, 'b|' || p.question_id,
               (CASE WHEN c.now > 0 THEN 1 ELSE 0 END)
               - (CASE WHEN c.now - {new_count} + {old_count} > 0 THEN 1 ELSE 0 END),
               NULL::numeric
          FROM ({pairs}) p
          CROSS JOIN LATERAL (SELECT COUNT(*) AS now FROM surveys_answer a
                               WHERE a.response_id = p.response_id
                                 AND a.question_id = p.question_id) c"""


def _pg_answer_function(name: str, new: str | None, old: str | None) -> str:
    parts = []
    if new:
        parts.append(_pg_answer_keys(new, "1"))
    if old:
        parts.append(_pg_answer_keys(old, "-1"))
    parts.append(_pg_base_keys(new, old))
    union = " UNION ALL ".join(parts)
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO surveys_statsdelta (survey_id, key, count, amount, response_id)
    SELECT q.survey_id, k.key, SUM(k.count), SUM(k.amount), k.response_id
      FROM ({union}) k
      JOIN surveys_question q ON q.id = k.question_id
     GROUP BY q.survey_id, k.key, k.response_id
    HAVING SUM(k.count) <> 0 OR COALESCE(SUM(k.amount), 0) <> 0;
    RETURN NULL;
END $$;"""


PG_FUNCTIONS = [
    _pg_answer_function("stats_answer_insert", "new_rows", None),
    _pg_answer_function("stats_answer_delete", None, "old_rows"),
    _pg_answer_function("stats_answer_update", "new_rows", "old_rows"),
]

# ---------------------------------------------------------------------------------------------
# SQLite (row-level triggers; the same keys)


def _sqlite_answer_keys(row: str, sign: str) -> list[str]:
    survey = f"(SELECT survey_id FROM surveys_question WHERE id = {row}.question_id)"
    columns = "INSERT INTO surveys_statsdelta (survey_id, key, count, amount, response_id)"
    return [
        f"{columns} VALUES ({survey}, 'a|' || {row}.question_id || '|' "
        f"|| COALESCE({row}.statement_id, '') || '|' || COALESCE({row}.choice_id, '') || '|' "
        f"|| {row}.country, {sign}, NULL, {row}.response_id);",
        f"{columns} SELECT {survey}, 'n|' || {row}.question_id, {sign}, {sign} * {row}.number, "
        f"{row}.response_id WHERE {row}.number IS NOT NULL;",
        f"{columns} SELECT {survey}, 't|' || {row}.question_id || '|' || {row}.text, {sign}, "
        f"NULL, {row}.response_id WHERE (SELECT type FROM surveys_question "
        f"WHERE id = {row}.question_id) IN ({_TEXT_TYPES_SQL});",
    ]


def _sqlite_rows_of_pair(row: str) -> str:
    return (
        f"(SELECT COUNT(*) FROM surveys_answer a WHERE a.response_id = {row}.response_id "
        f"AND a.question_id = {row}.question_id)"
    )


def _sqlite_base(row: str, sign: str, when: str) -> str:
    survey = f"(SELECT survey_id FROM surveys_question WHERE id = {row}.question_id)"
    return (
        "INSERT INTO surveys_statsdelta (survey_id, key, count, amount, response_id) "
        f"SELECT {survey}, 'b|' || {row}.question_id, {sign}, NULL, {row}.response_id "
        f"WHERE {when};"
    )


_MOVED = "(NEW.response_id IS NOT OLD.response_id OR NEW.question_id IS NOT OLD.question_id)"

SQLITE_TRIGGERS = [
    _base._sqlite_trigger(
        "stats_answer_insert",
        "INSERT",
        "surveys_answer",
        [
            *_sqlite_answer_keys("NEW", "1"),
            _sqlite_base("NEW", "1", _sqlite_rows_of_pair("NEW") + " = 1"),
        ],
    ),
    _base._sqlite_trigger(
        "stats_answer_delete",
        "DELETE",
        "surveys_answer",
        [
            *_sqlite_answer_keys("OLD", "-1"),
            _sqlite_base("OLD", "-1", _sqlite_rows_of_pair("OLD") + " = 0"),
        ],
    ),
    _base._sqlite_trigger(
        "stats_answer_update",
        "UPDATE",
        "surveys_answer",
        [
            *_sqlite_answer_keys("OLD", "-1"),
            *_sqlite_answer_keys("NEW", "1"),
            _sqlite_base("OLD", "-1", f"{_MOVED} AND {_sqlite_rows_of_pair('OLD')} = 0"),
            _sqlite_base("NEW", "1", f"{_MOVED} AND {_sqlite_rows_of_pair('NEW')} = 1"),
        ],
    ),
]
_NAMES = ("stats_answer_insert", "stats_answer_delete", "stats_answer_update")


def _install(schema_editor, pg_functions, sqlite_triggers):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for function in pg_functions:
            schema_editor.execute(function)
    elif schema_editor.connection.vendor == "sqlite":
        for name in _NAMES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")
        for statement in sqlite_triggers:
            schema_editor.execute(statement)


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    _install(schema_editor, PG_FUNCTIONS, SQLITE_TRIGGERS)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    old_sqlite = [s for s in _base.SQLITE_TRIGGERS if s.split()[2] in _NAMES]
    _install(schema_editor, _base.PG_FUNCTIONS[:3], old_sqlite)


class Migration(migrations.Migration):
    dependencies = [("surveys", "0019_summaries_scopes")]

    operations = [migrations.RunPython(forwards, backwards)]

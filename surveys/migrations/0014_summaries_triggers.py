"""Triggers that keep the statistics summaries' inputs (surveys/results/summaries.py).

Every write to answers inserts +/- delta rows of the answer keys into surveys_statsdelta; every
write that can change an invitation's invitation-level figures (the invitation, its response,
its deliveries, its organisation's country, founding year or sectors) inserts a mark into
surveys_statschange. Insert-only, in the transaction of the change: whatever code writes (the
services, the admin, bulk SQL), and no shared row is locked.

PostgreSQL: statement-level triggers with transition tables (one INSERT ... SELECT per
statement, whatever its size). SQLite (the embedded run): row-level triggers with the same keys.
Keys: see surveys/results/summaries.py (a|..., b|..., n|..., t|...).
"""

from django.db import migrations

# Question types whose statistics read the answers' texts (statistics_needs "texts"); a test
# checks this list against the type registry.
TEXT_TYPES = ("date",)
_TEXT_TYPES_SQL = ", ".join(f"'{t}'" for t in TEXT_TYPES)

# ---------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_answer_keys(rows: str, sign: str) -> str:
    """a, n and t keys of the rows of transition table `rows`, counted with `sign`."""
    return f"""
        SELECT r.question_id, 'a|' || r.question_id || '|' || COALESCE(r.statement_id::text, '')
               || '|' || COALESCE(r.choice_id::text, '') || '|' || r.country AS key,
               {sign} AS count, NULL::numeric AS amount
          FROM {rows} r
        UNION ALL
        SELECT r.question_id, 'n|' || r.question_id, {sign}, {sign} * r.number
          FROM {rows} r WHERE r.number IS NOT NULL
        UNION ALL
        SELECT r.question_id, 't|' || r.question_id || '|' || r.text, {sign}, NULL
          FROM {rows} r JOIN surveys_question tq ON tq.id = r.question_id
         WHERE tq.type IN ({_TEXT_TYPES_SQL})"""


def _pg_base_keys(new: str | None, old: str | None) -> str:
    """b keys: per (response, question) touched, whether it has rows now minus whether it had
    rows before the statement (rows now - new rows + old rows)."""
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
        SELECT p.question_id, 'b|' || p.question_id,
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
    INSERT INTO surveys_statsdelta (survey_id, key, count, amount)
    SELECT q.survey_id, k.key, SUM(k.count), SUM(k.amount)
      FROM ({union}) k
      JOIN surveys_question q ON q.id = k.question_id
     GROUP BY q.survey_id, k.key
    HAVING SUM(k.count) <> 0 OR COALESCE(SUM(k.amount), 0) <> 0;
    RETURN NULL;
END $$;"""


def _pg_mark_function(name: str, select: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO surveys_statschange (survey_id, invitation_id)
    SELECT DISTINCT m.survey_id, m.invitation_id FROM ({select}) m
     WHERE m.invitation_id IS NOT NULL;
    RETURN NULL;
END $$;"""


def _pg_changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in columns)


_INVITATION_COLUMNS = ("first_opened_at", "opted_out_at", "survey_id", "organisation_id")
_RESPONSE_COLUMNS = ("started_at", "submitted_at", "invitation_id", "survey_id")
_DELIVERY_COLUMNS = ("status", "sent_at", "wave_id", "kind", "created_at", "invitation_id")


def _pg_delivery_marks(rows: str) -> str:
    return (
        f"SELECT i.survey_id, i.id AS invitation_id FROM {rows} d "
        "JOIN surveys_invitation i ON i.id = d.invitation_id"
    )


def _pg_organisation_marks(organisations: str) -> str:
    return (
        "SELECT i.survey_id, i.id AS invitation_id FROM surveys_invitation i "
        f"WHERE i.organisation_id IN ({organisations})"
    )


PG_FUNCTIONS = [
    _pg_answer_function("stats_answer_insert", "new_rows", None),
    _pg_answer_function("stats_answer_delete", None, "old_rows"),
    _pg_answer_function("stats_answer_update", "new_rows", "old_rows"),
    _pg_mark_function(
        "stats_invitation_insert", "SELECT survey_id, id AS invitation_id FROM new_rows"
    ),
    _pg_mark_function(
        "stats_invitation_delete", "SELECT survey_id, id AS invitation_id FROM old_rows"
    ),
    _pg_mark_function(
        "stats_invitation_update",
        "SELECT n.survey_id, n.id AS invitation_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
        f"WHERE {_pg_changed(_INVITATION_COLUMNS)} "
        "UNION ALL SELECT o.survey_id, o.id FROM new_rows n JOIN old_rows o ON o.id = n.id "
        "WHERE n.survey_id IS DISTINCT FROM o.survey_id",
    ),
    _pg_mark_function("stats_response_insert", "SELECT survey_id, invitation_id FROM new_rows"),
    _pg_mark_function("stats_response_delete", "SELECT survey_id, invitation_id FROM old_rows"),
    _pg_mark_function(
        "stats_response_update",
        "SELECT n.survey_id, n.invitation_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
        f"WHERE {_pg_changed(_RESPONSE_COLUMNS)} "
        "UNION ALL SELECT o.survey_id, o.invitation_id FROM new_rows n "
        "JOIN old_rows o ON o.id = n.id WHERE n.invitation_id IS DISTINCT FROM o.invitation_id",
    ),
    _pg_mark_function("stats_delivery_insert", _pg_delivery_marks("new_rows")),
    _pg_mark_function("stats_delivery_delete", _pg_delivery_marks("old_rows")),
    _pg_mark_function(
        "stats_delivery_update",
        _pg_delivery_marks(
            f"(SELECT n.invitation_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
            f"WHERE {_pg_changed(_DELIVERY_COLUMNS)} "
            "UNION ALL SELECT o.invitation_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
            "WHERE n.invitation_id IS DISTINCT FROM o.invitation_id)"
        ),
    ),
    _pg_mark_function(
        "stats_organisation_update",
        _pg_organisation_marks(
            "SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id "
            "WHERE n.country IS DISTINCT FROM o.country "
            "OR n.year_founded IS DISTINCT FROM o.year_founded"
        ),
    ),
    _pg_mark_function(
        "stats_organisation_sectors_insert",
        _pg_organisation_marks("SELECT clusterorganisation_id FROM new_rows"),
    ),
    _pg_mark_function(
        "stats_organisation_sectors_delete",
        _pg_organisation_marks("SELECT clusterorganisation_id FROM old_rows"),
    ),
]

# (table, event, function)
PG_TRIGGERS = [
    ("surveys_answer", "insert", "stats_answer_insert"),
    ("surveys_answer", "delete", "stats_answer_delete"),
    ("surveys_answer", "update", "stats_answer_update"),
    ("surveys_invitation", "insert", "stats_invitation_insert"),
    ("surveys_invitation", "delete", "stats_invitation_delete"),
    ("surveys_invitation", "update", "stats_invitation_update"),
    ("surveys_response", "insert", "stats_response_insert"),
    ("surveys_response", "delete", "stats_response_delete"),
    ("surveys_response", "update", "stats_response_update"),
    ("surveys_delivery", "insert", "stats_delivery_insert"),
    ("surveys_delivery", "delete", "stats_delivery_delete"),
    ("surveys_delivery", "update", "stats_delivery_update"),
    ("surveys_clusterorganisation", "update", "stats_organisation_update"),
    ("surveys_clusterorganisation_sectors", "insert", "stats_organisation_sectors_insert"),
    ("surveys_clusterorganisation_sectors", "delete", "stats_organisation_sectors_delete"),
]


def _pg_trigger(table: str, event: str, function: str) -> str:
    referencing = {
        "insert": "REFERENCING NEW TABLE AS new_rows",
        "delete": "REFERENCING OLD TABLE AS old_rows",
        "update": "REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows",
    }[event]
    return (
        f"CREATE TRIGGER {function}_trigger AFTER {event.upper()} ON {table} "
        f"{referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
    )


# ---------------------------------------------------------------------------------------------
# SQLite (row-level triggers; the same keys)


def _sqlite_answer_keys(row: str, sign: str) -> list[str]:
    survey = f"(SELECT survey_id FROM surveys_question WHERE id = {row}.question_id)"
    return [
        "INSERT INTO surveys_statsdelta (survey_id, key, count, amount) VALUES "
        f"({survey}, 'a|' || {row}.question_id || '|' || COALESCE({row}.statement_id, '') "
        f"|| '|' || COALESCE({row}.choice_id, '') || '|' || {row}.country, {sign}, NULL);",
        "INSERT INTO surveys_statsdelta (survey_id, key, count, amount) "
        f"SELECT {survey}, 'n|' || {row}.question_id, {sign}, {sign} * {row}.number "
        f"WHERE {row}.number IS NOT NULL;",
        "INSERT INTO surveys_statsdelta (survey_id, key, count, amount) "
        f"SELECT {survey}, 't|' || {row}.question_id || '|' || {row}.text, {sign}, NULL "
        f"WHERE (SELECT type FROM surveys_question WHERE id = {row}.question_id) "
        f"IN ({_TEXT_TYPES_SQL});",
    ]


def _sqlite_rows_of_pair(row: str) -> str:
    return (
        f"(SELECT COUNT(*) FROM surveys_answer a WHERE a.response_id = {row}.response_id "
        f"AND a.question_id = {row}.question_id)"
    )


def _sqlite_base(row: str, sign: str, when: str) -> str:
    survey = f"(SELECT survey_id FROM surveys_question WHERE id = {row}.question_id)"
    return (
        "INSERT INTO surveys_statsdelta (survey_id, key, count, amount) "
        f"SELECT {survey}, 'b|' || {row}.question_id, {sign}, NULL WHERE {when};"
    )


def _sqlite_mark(select: str) -> str:
    return f"INSERT INTO surveys_statschange (survey_id, invitation_id) {select};"


def _sqlite_changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)


def _sqlite_trigger(name: str, event: str, table: str, body: list[str], when: str = "") -> str:
    condition = f" WHEN {when}" if when else ""
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{condition} BEGIN "
        + " ".join(body)
        + " END;"
    )


def _sqlite_delivery_mark(row: str) -> str:
    return _sqlite_mark(
        f"SELECT survey_id, id FROM surveys_invitation WHERE id = {row}.invitation_id"
    )


def _sqlite_organisation_mark(organisation: str) -> str:
    return _sqlite_mark(
        f"SELECT survey_id, id FROM surveys_invitation WHERE organisation_id = {organisation}"
    )


SQLITE_TRIGGERS = [
    _sqlite_trigger(
        "stats_answer_insert",
        "INSERT",
        "surveys_answer",
        [*_sqlite_answer_keys("NEW", "1"), _sqlite_base("NEW", "1", _sqlite_rows_of_pair("NEW") + " = 1")],
    ),
    _sqlite_trigger(
        "stats_answer_delete",
        "DELETE",
        "surveys_answer",
        [*_sqlite_answer_keys("OLD", "-1"), _sqlite_base("OLD", "-1", _sqlite_rows_of_pair("OLD") + " = 0")],
    ),
    _sqlite_trigger(
        "stats_answer_update",
        "UPDATE",
        "surveys_answer",
        [
            *_sqlite_answer_keys("OLD", "-1"),
            *_sqlite_answer_keys("NEW", "1"),
            _sqlite_base(
                "OLD",
                "-1",
                "(NEW.response_id IS NOT OLD.response_id OR NEW.question_id IS NOT OLD.question_id) "
                f"AND {_sqlite_rows_of_pair('OLD')} = 0",
            ),
            _sqlite_base(
                "NEW",
                "1",
                "(NEW.response_id IS NOT OLD.response_id OR NEW.question_id IS NOT OLD.question_id) "
                f"AND {_sqlite_rows_of_pair('NEW')} = 1",
            ),
        ],
    ),
    _sqlite_trigger(
        "stats_invitation_insert",
        "INSERT",
        "surveys_invitation",
        [_sqlite_mark("SELECT NEW.survey_id, NEW.id")],
    ),
    _sqlite_trigger(
        "stats_invitation_delete",
        "DELETE",
        "surveys_invitation",
        [_sqlite_mark("SELECT OLD.survey_id, OLD.id")],
    ),
    _sqlite_trigger(
        "stats_invitation_update",
        "UPDATE",
        "surveys_invitation",
        [_sqlite_mark("SELECT NEW.survey_id, NEW.id"), _sqlite_mark("SELECT OLD.survey_id, OLD.id")],
        _sqlite_changed(_INVITATION_COLUMNS),
    ),
    _sqlite_trigger(
        "stats_response_insert",
        "INSERT",
        "surveys_response",
        [_sqlite_mark("SELECT NEW.survey_id, NEW.invitation_id")],
    ),
    _sqlite_trigger(
        "stats_response_delete",
        "DELETE",
        "surveys_response",
        [_sqlite_mark("SELECT OLD.survey_id, OLD.invitation_id")],
    ),
    _sqlite_trigger(
        "stats_response_update",
        "UPDATE",
        "surveys_response",
        [
            _sqlite_mark("SELECT NEW.survey_id, NEW.invitation_id"),
            _sqlite_mark("SELECT OLD.survey_id, OLD.invitation_id"),
        ],
        _sqlite_changed(_RESPONSE_COLUMNS),
    ),
    _sqlite_trigger(
        "stats_delivery_insert", "INSERT", "surveys_delivery", [_sqlite_delivery_mark("NEW")]
    ),
    _sqlite_trigger(
        "stats_delivery_delete", "DELETE", "surveys_delivery", [_sqlite_delivery_mark("OLD")]
    ),
    _sqlite_trigger(
        "stats_delivery_update",
        "UPDATE",
        "surveys_delivery",
        [_sqlite_delivery_mark("NEW"), _sqlite_delivery_mark("OLD")],
        _sqlite_changed(_DELIVERY_COLUMNS),
    ),
    _sqlite_trigger(
        "stats_organisation_update",
        "UPDATE",
        "surveys_clusterorganisation",
        [_sqlite_organisation_mark("NEW.id")],
        "NEW.country IS NOT OLD.country OR NEW.year_founded IS NOT OLD.year_founded",
    ),
    _sqlite_trigger(
        "stats_organisation_sectors_insert",
        "INSERT",
        "surveys_clusterorganisation_sectors",
        [_sqlite_organisation_mark("NEW.clusterorganisation_id")],
    ),
    _sqlite_trigger(
        "stats_organisation_sectors_delete",
        "DELETE",
        "surveys_clusterorganisation_sectors",
        [_sqlite_organisation_mark("OLD.clusterorganisation_id")],
    ),
]
SQLITE_TRIGGER_NAMES = [
    statement.split()[2] for statement in SQLITE_TRIGGERS
]


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    if schema_editor.connection.vendor == "postgresql":
        for function in PG_FUNCTIONS:
            schema_editor.execute(function)
        for table, event, function in PG_TRIGGERS:
            schema_editor.execute(_pg_trigger(table, event, function))
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]  # migration signature
    if schema_editor.connection.vendor == "postgresql":
        for table, _event, function in PG_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {function}_trigger ON {table};")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}();")
    elif schema_editor.connection.vendor == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


class Migration(migrations.Migration):
    dependencies = [("surveys", "0013_summaries_tables")]

    operations = [migrations.RunPython(forwards, backwards)]

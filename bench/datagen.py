"""Bench data at a million responses in minutes: a survey of the demo's shape filled with
PostgreSQL COPY (psycopg 3 `cursor.copy()`), for bench/stats.py, bench/exports.py and any
benchmark that needs many organisations, invitations, responses, answers and deliveries.

    from datagen import BenchShape, bench_survey_build
    shape = BenchShape(invitations=1_000_000)
    survey, counts = bench_survey_build(slug="bench-x-1000000", shape=shape)

What it builds (one transaction), for `shape.invitations` = N:
- the demo questionnaire (surveys/demo/eccp-2019.yaml) imported under `slug`, plus, with
  `every_type` (the default), a fifth page holding the types the demo lacks: number, date,
  short text, single country, Likert matrix and ranking, so that every question type has
  answer rows;
- N organisations (the demo's countries, founding years over four decades, 3% unknown), one or
  two sectors each, one contact each, one invitation each (valid token fields) addressed to it;
- responses: `complete` of the invitations submitted, `started - complete` partial (pages 1 and
  2 saved, sent on to page 3), `opened_only` opened the link without answering, a few of them
  opted out; the rest never opened it;
- answer rows as the respondent pages make them (surveys.questionnaire.structure.answer_rows):
  the demo's 240 planned respondents (surveys.demo.load) are the patterns of pages 1-4, and 97
  drawn answers of the fifth page (texts include one that a spreadsheet would run as a formula);
- with `deliveries`: a launched wave with an invitation email per invitation (2% failed, 1%
  bounced) and two reminder days for those not done by then.

Speed: ids are reserved from each table's sequence (one round trip), rows are formatted as COPY
text in Python from patterns formatted once, and the answer and delivery tables get their
secondary indexes dropped during the load and rebuilt after it (one sort per index instead of
15 million insertions into 12 b-trees). With `skip_triggers` (the default, superuser only) the
load runs with `session_replication_role = replica`, as pg_restore --disable-triggers does: the
foreign-key triggers of 20 million deferred rows would otherwise queue until commit. Every
generated id is consistent by construction; no other trigger of the schema is skipped today (if
a table of derived figures is kept by triggers one day, rebuild it after a bench load).

Nothing here is fit for production data: the tables are the bench database's own.
"""

import random
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

# Rows per write to a COPY stream (formatted text, joined): big enough to keep the Python
# overhead per call small, small enough to keep memory flat.
COPY_ROWS_PER_WRITE = 10_000
# Drawn answers of the fifth page: prime, so that (demo pattern, fifth-page pattern) pairs repeat
# only every 240 * 97 responses.
EVERY_TYPE_PATTERNS = 97
# Secondary indexes are dropped and rebuilt only for loads at least this big: below it, keeping
# them costs less than rebuilding them over the whole table.
INDEX_REBUILD_MIN_ROWS = 200_000

EVERY_TYPE_PAGE = {
    "title": "Bench: the other question types",
    "questions": [
        {
            "code": "team_size",
            "type": "number",
            "text": "How many people work in your cluster management team?",
            "options": {"min_value": 0, "max_value": 500, "decimal_places": 0},
        },
        {
            "code": "budget_share",
            "type": "number",
            "text": "Which share of your budget is public funding (%)?",
            "options": {"min_value": 0, "max_value": 100, "decimal_places": 1},
        },
        {
            "code": "founded_on",
            "type": "date",
            "text": "When was your cluster organisation registered?",
            "options": {"min_date": "1980-01-01", "max_date": "2019-05-14"},
        },
        {
            "code": "contact_role",
            "type": "short_text",
            "text": "What is your role in the cluster organisation?",
            "options": {"max_length": 200},
        },
        {
            "code": "headquarters",
            "type": "country",
            "text": "In which country is your headquarters?",
        },
        {
            "code": "platform_matrix",
            "type": "matrix",
            "text": "How far do you agree with these statements about the ECCP?",
            "choices": [
                {"value": 1, "label": "Strongly disagree"},
                {"value": 2, "label": "Disagree"},
                {"value": 3, "label": "Neutral"},
                {"value": 4, "label": "Agree"},
                {"value": 5, "label": "Strongly agree"},
            ],
            "statements": [
                {"value": 1, "text": "It is easy to find information."},
                {"value": 2, "text": "The partner search finds relevant partners."},
                {"value": 3, "text": "The news are up to date."},
            ],
        },
        {
            "code": "priorities",
            "type": "ranking",
            "text": "Rank the three services the revamped platform should improve first.",
            "options": {"rank_count": 3},
            "choices": [
                {"value": 1, "label": "Partner search"},
                {"value": 2, "label": "Events"},
                {"value": 3, "label": "Open calls"},
                {"value": 4, "label": "The mapping tool"},
                {"value": 5, "label": "News"},
            ],
        },
    ],
}
ROLES = [
    "Cluster manager",
    "Project manager",
    "Internationalisation officer",
    "Communication officer",
    '=HYPERLINK("http://example.org","director")',
    "+ managing director",
    "Directrice générale",
]
HEADQUARTERS = ["ES", "FR", "IT", "DE", "PL", "PT", "RO", "BE", "GR", "NL", "SE", "XK"]


@dataclass(frozen=True)
class BenchShape:
    """How many of what. Shares are of the invitations: `complete` <= `started`."""

    invitations: int
    started: float = 0.6
    complete: float = 0.5
    opened_only: float = 0.05
    every_type: bool = True
    deliveries: bool = True
    skip_triggers: bool = True
    seed: int = 2019


@dataclass(frozen=True)
class BenchCounts:
    organisations: int
    invitations: int
    responses: int
    complete: int
    answers: int
    deliveries: int
    seconds: float


# Helpers --------------------------------------------------------------------------------------


def _copy_text(value: Any) -> str:
    """One field in COPY's text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _line(values: Iterable[Any]) -> str:
    return "\t".join(_copy_text(v) for v in values) + "\n"


def _copy(cursor: Any, table: str, columns: Sequence[str], lines: Iterable[str]) -> int:
    """COPY `lines` (already formatted, one row each or several joined) into `table`."""
    count = 0
    batch: list[str] = []
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for line in lines:
            batch.append(line)
            if len(batch) >= COPY_ROWS_PER_WRITE:
                copy.write("".join(batch))
                count += len(batch)
                batch = []
        if batch:
            copy.write("".join(batch))
            count += len(batch)
    return count


def _ids_reserve(cursor: Any, table: str, count: int) -> int:
    """The first of `count` consecutive ids taken from the table's identity sequence, so that
    rows can be copied with their ids (COPY cannot return them). The bench database has no
    other writer while it loads."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute("SELECT nextval(%s)", [sequence])
    first = cursor.fetchone()[0]
    if count > 1:
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return int(first)


class _IndexesSuspended:
    """Drop the secondary indexes of `table` that back no constraint, rebuild them on exit
    (from their own definitions, as pg_dump would)."""

    def __init__(self, cursor: Any, table: str, active: bool) -> None:
        self.cursor, self.table, self.active = cursor, table, active
        self.definitions: list[str] = []

    def __enter__(self) -> None:
        if not self.active:
            return
        self.cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [self.table],
        )
        rows = self.cursor.fetchall()
        self.definitions = [definition for _, definition in rows]
        for name, _ in rows:
            self.cursor.execute(f"DROP INDEX {name}")

    def __exit__(self, *exc: object) -> None:
        for definition in self.definitions:
            self.cursor.execute(definition)


# Patterns --------------------------------------------------------------------------------------


def _every_type_answers(rng: random.Random) -> dict[str, Any]:
    """One respondent's answers to the fifth page, as the form's cleaned values."""
    answers: dict[str, Any] = {}
    if rng.random() < 0.9:
        answers["team_size"] = rng.randint(1, 40)
    if rng.random() < 0.8:
        answers["budget_share"] = f"{rng.uniform(0, 100):.1f}"
    if rng.random() < 0.85:
        day = date(1980, 1, 1) + timedelta(days=rng.randint(0, 14000))
        answers["founded_on"] = day.isoformat()
    if rng.random() < 0.7:
        answers["contact_role"] = rng.choice(ROLES)
    answers["headquarters"] = rng.choice(HEADQUARTERS)
    answers["platform_matrix"] = {
        statement: rng.randint(1, 5) for statement in (1, 2, 3) if rng.random() < 0.95
    }
    answers["priorities"] = rng.sample([1, 2, 3, 4, 5], 3)
    return answers


def _pattern_suffixes(rows: Iterable[Any]) -> list[str]:
    """Answer rows (unsaved Answers) as the COPY text after their response id."""
    return [
        "\t"
        + _line(
            (
                row.question_id,
                row.choice_id,
                row.statement_id,
                row.rank,
                row.country,
                row.text,
                row.number,
            )
        )
        for row in rows
    ]


def _answer_patterns(survey: Any, shape: BenchShape) -> tuple[list[str], list[str], list[str]]:
    """(complete patterns, partial patterns, fifth-page patterns), each answer-row suffixes
    joined into one string per respondent."""
    from surveys.demo.load import respondent_answer_rows, respondents_plan
    from surveys.questionnaire.structure import answer_rows, questionnaire_load

    plan = respondents_plan()
    questionnaire = questionnaire_load(survey)

    def joined(index: int) -> str:
        rows = respondent_answer_rows(questionnaire, plan.answers[index])
        return "".join(_pattern_suffixes(rows))

    complete = [joined(i) for i in plan.complete]
    partial = [joined(i) for i in plan.partial]
    fifth: list[str] = [""]
    if shape.every_type:
        rng = random.Random(f"{shape.seed}-every-type")
        page = questionnaire.pages[-1]
        fifth = []
        for _ in range(EVERY_TYPE_PATTERNS):
            answers = _every_type_answers(rng)
            rows = [
                row
                for question in questionnaire.page_questions(page)
                for row in answer_rows(question, answers.get(question.code), answers)
            ]
            fifth.append("".join(_pattern_suffixes(rows)))
    return complete, partial, fifth


# The build ------------------------------------------------------------------------------------


def bench_survey_delete(slug: str) -> None:
    """Remove a previous bench survey and its organisations with plain DELETEs: the ORM's
    cascade would load millions of rows into Python first."""
    from django.db import connection

    from surveys.models import Survey

    survey = Survey.objects.filter(slug=slug).first()
    with connection.cursor() as cursor:
        if survey is not None:
            sid = survey.pk
            responses = "SELECT id FROM surveys_response WHERE survey_id = %s"
            invitations = "SELECT id FROM surveys_invitation WHERE survey_id = %s"
            for statement in (
                f"DELETE FROM surveys_answer WHERE response_id IN ({responses})",
                "DELETE FROM surveys_response WHERE survey_id = %s",
                f"DELETE FROM surveys_delivery WHERE invitation_id IN ({invitations})",
                f"DELETE FROM surveys_invitation_contacts WHERE invitation_id IN ({invitations})",
                "DELETE FROM surveys_invitation WHERE survey_id = %s",
                "DELETE FROM surveys_wave WHERE survey_id = %s",
            ):
                cursor.execute(statement, [sid])
        organisations = "SELECT id FROM surveys_clusterorganisation WHERE external_id LIKE %s"
        pattern = f"{slug}-%"
        cursor.execute(
            f"DELETE FROM surveys_contact WHERE organisation_id IN ({organisations})", [pattern]
        )
        cursor.execute(
            "DELETE FROM surveys_clusterorganisation_sectors WHERE clusterorganisation_id IN "
            f"({organisations})",
            [pattern],
        )
        cursor.execute(
            "DELETE FROM surveys_clusterorganisation WHERE external_id LIKE %s", [pattern]
        )
    if survey is not None:
        survey.delete()


def bench_survey_build(
    *, slug: str, shape: BenchShape, vacuum: bool = True
) -> tuple[Any, BenchCounts]:
    """The survey `slug` filled as `shape` says (module doc), replacing any previous one:
    (the Survey, what was built). `vacuum`: VACUUM ANALYZE the tables after (not possible inside
    a transaction, e.g. a test's)."""
    from django.db import connection, transaction

    from surveys.demo.load import questionnaire_data
    from surveys.questionnaire.survey_files import survey_import

    started = time.perf_counter()
    bench_survey_delete(slug)
    data = questionnaire_data()
    if shape.every_type:
        data = {**data, "pages": [*data["pages"], EVERY_TYPE_PAGE]}
    with transaction.atomic():
        survey = survey_import(data={**data, "slug": slug, "title": f"{data['title']} ({slug})"})
        with connection.cursor() as django_cursor:
            cursor = django_cursor.cursor  # psycopg's own, for copy()
            skip_triggers = shape.skip_triggers and _is_superuser(cursor)
            if skip_triggers:
                cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            try:
                counts = _fill(cursor, survey=survey, shape=shape, started=started)
            finally:
                # Inside a test's transaction this atomic block is a savepoint, and SET LOCAL
                # would last until the test's end.
                if skip_triggers:
                    cursor.execute("SET LOCAL session_replication_role = DEFAULT")
                cursor.execute("SET LOCAL maintenance_work_mem = DEFAULT")
    if vacuum:
        with connection.cursor() as cursor:
            for table in (
                "surveys_answer",
                "surveys_response",
                "surveys_invitation",
                "surveys_delivery",
                "surveys_clusterorganisation",
                "surveys_contact",
            ):
                # Planner statistics and the visibility map (index-only scans), as autovacuum
                # would soon after a bulk load.
                cursor.execute(f"VACUUM ANALYZE {table}")
    seconds = time.perf_counter() - started
    return survey, BenchCounts(**{**counts.__dict__, "seconds": seconds})


def _is_superuser(cursor: Any) -> bool:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    return bool(row and row[0])


def _fill(cursor: Any, *, survey: Any, shape: BenchShape, started: float) -> BenchCounts:
    from surveys.demo.load import ORGANISATIONS_PER_COUNTRY
    from surveys.models import Sector
    from surveys.questionnaire.invitations import new_token_fields
    from surveys.questionnaire.structure import questionnaire_load

    count = shape.invitations
    rng = random.Random(shape.seed)
    opens, closes = survey.opens_at.astimezone(UTC), survey.closes_at.astimezone(UTC)
    span = (closes - opens).total_seconds() - 3 * 3600
    now = datetime.now(UTC)
    slug = survey.slug

    # Organisations, sectors, contacts.
    country_pool = [c for c, n in ORGANISATIONS_PER_COUNTRY.items() for _ in range(n)]
    organisation0 = _ids_reserve(cursor, "surveys_clusterorganisation", count)
    _copy(
        cursor,
        "surveys_clusterorganisation",
        [
            "id",
            "name",
            "external_id",
            "country",
            "is_cosme",
            "city",
            "region",
            "year_founded",
            "website",
            "profile_updated_at",
            "created_at",
        ],
        (
            _line(
                (
                    organisation0 + n,
                    f"Cluster {n:07d} of {slug}",
                    f"{slug}-{n}",
                    rng.choice(country_pool),
                    True,
                    "",
                    "",
                    None if rng.random() < 0.03 else rng.randint(1980, 2019),
                    "",
                    None,
                    now,
                )
            )
            for n in range(count)
        ),
    )
    sectors = list(Sector.objects.order_by("pk").values_list("pk", flat=True))
    if not sectors:
        sectors = [Sector.objects.create(name=f"Bench sector {n}").pk for n in range(12)]
    _copy(
        cursor,
        "surveys_clusterorganisation_sectors",
        ["clusterorganisation_id", "sector_id"],
        (
            f"{organisation0 + n}\t{sector}\n"
            for n in range(count)
            for sector in rng.sample(sectors, 1 if rng.random() < 0.6 else 2)
        ),
    )
    contact0 = _ids_reserve(cursor, "surveys_contact", count)
    _copy(
        cursor,
        "surveys_contact",
        ["id", "name", "email", "language", "suppressed_at", "organisation_id"],
        (
            f"{contact0 + n}\tContact {n}\t{slug}-{n}@example.org\ten\t\\N\t{organisation0 + n}\n"
            for n in range(count)
        ),
    )

    # Invitations and their fates: complete, partial, opened only, never opened.
    fates = bytearray(count)  # 0 never opened, 1 opened only, 2 partial, 3 complete
    opened_at: list[float] = [0.0] * count  # seconds after opens
    for n in range(count):
        u = rng.random()
        fate = (
            3
            if u < shape.complete
            else 2
            if u < shape.started
            else 1
            if u < shape.started + shape.opened_only
            else 0
        )
        fates[n] = fate
        if fate:
            opened_at[n] = rng.random() * span
    invitation0 = _ids_reserve(cursor, "surveys_invitation", count)
    opt_out_every = 20  # one in twenty of those who only opened the link opted out

    def invitation_lines() -> Iterator[str]:
        for n in range(count):
            opened = opens + timedelta(seconds=opened_at[n]) if fates[n] else None
            tokens = new_token_fields()
            yield _line(
                (
                    invitation0 + n,
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    tokens["token_nonce"],
                    tokens["token_hash"],
                    opened,
                    opened if fates[n] == 1 and n % opt_out_every == 0 else None,
                    opens,
                    now,
                    organisation0 + n,
                    survey.pk,
                    None,
                    0,
                )
            )

    _copy(
        cursor,
        "surveys_invitation",
        [
            "id",
            "public_id",
            "token_nonce",
            "token_hash",
            "first_opened_at",
            "opted_out_at",
            "created_at",
            "updated_at",
            "organisation_id",
            "survey_id",
            "reminder_due_at",
            "reminders_sent",
        ],
        invitation_lines(),
    )
    _copy(
        cursor,
        "surveys_invitation_contacts",
        ["invitation_id", "contact_id"],
        (f"{invitation0 + n}\t{contact0 + n}\n" for n in range(count)),
    )

    # Responses: one per invitation that started; submitted seconds kept for the reminders.
    questionnaire = questionnaire_load(survey)
    last_page = len(questionnaire.pages) + 1
    response_count = sum(1 for fate in fates if fate >= 2)
    response0 = _ids_reserve(cursor, "surveys_response", response_count)
    submitted_after: list[float] = [-1.0] * count  # -1: not submitted
    response_invitations: list[int] = []

    def response_lines() -> Iterator[str]:
        for n in range(count):
            if fates[n] < 2:
                continue
            start = opened_at[n] + rng.randint(0, 300)
            end = start + rng.randint(180, 2400)
            complete = fates[n] == 3
            if complete:
                submitted_after[n] = end
            response_invitations.append(n)
            yield _line(
                (
                    response0 + len(response_invitations) - 1,
                    invitation0 + n,
                    survey.pk,
                    opens + timedelta(seconds=start),
                    opens + timedelta(seconds=end),
                    opens + timedelta(seconds=end) if complete else None,
                    last_page if complete else 3,
                )
            )

    _copy(
        cursor,
        "surveys_response",
        [
            "id",
            "invitation_id",
            "survey_id",
            "started_at",
            "last_saved_at",
            "submitted_at",
            "current_page",
        ],
        response_lines(),
    )

    # Answers: each response's rows are a pattern's rows after its id.
    complete_patterns, partial_patterns, fifth_patterns = _answer_patterns(survey, shape)

    answers = 0

    def answer_blocks() -> Iterator[str]:
        nonlocal answers
        for k, n in enumerate(response_invitations):
            if fates[n] == 3:
                block = (
                    complete_patterns[k % len(complete_patterns)]
                    + (fifth_patterns[k % len(fifth_patterns)])
                )
            else:
                block = partial_patterns[k % len(partial_patterns)]
            if not block:
                continue
            # Every line of a block is "\t<fields>\n": put the response id before each.
            rid = str(response0 + k)
            answers += block.count("\n")
            yield rid + block[:-1].replace("\n", "\n" + rid) + "\n"

    answer_columns = [
        "response_id",
        "question_id",
        "choice_id",
        "statement_id",
        "rank",
        "country",
        "text",
        "number",
    ]
    rebuild = response_count * 15 >= INDEX_REBUILD_MIN_ROWS
    with _IndexesSuspended(cursor, "surveys_answer", rebuild):
        _copy(cursor, "surveys_answer", answer_columns, answer_blocks())

    deliveries = 0
    if shape.deliveries:
        deliveries = _deliveries_copy(
            cursor,
            survey=survey,
            rng=rng,
            count=count,
            invitation0=invitation0,
            contact0=contact0,
            submitted_after=submitted_after,
        )
    return BenchCounts(
        organisations=count,
        invitations=count,
        responses=response_count,
        complete=sum(1 for fate in fates if fate == 3),
        answers=answers,
        deliveries=deliveries,
        seconds=time.perf_counter() - started,
    )


def _deliveries_copy(
    cursor: Any,
    *,
    survey: Any,
    rng: random.Random,
    count: int,
    invitation0: int,
    contact0: int,
    submitted_after: list[float],
) -> int:
    """A launched wave's invitation email per invitation, then reminders on two days to those
    not complete by then (invitation emails that failed or bounced get no reminder)."""
    from surveys.models import Wave

    opens = survey.opens_at.astimezone(UTC)
    wave = Wave.objects.create(
        survey=survey, name="Invitation", status=Wave.Status.LAUNCHED, launched_at=opens
    )
    reminder_days = [14 * 86400.0, 35 * 86400.0]

    def lines() -> Iterator[str]:
        for n in range(count):
            fate = rng.random()
            status = "failed" if fate < 0.02 else "bounced" if fate < 0.03 else "sent"
            sent_at = opens if status == "sent" else None
            yield _line(
                (
                    wave.pk,
                    invitation0 + n,
                    contact0 + n,
                    "invitation",
                    0,
                    status,
                    1,
                    opens,
                    sent_at,
                    "",
                    "",
                    opens,
                )
            )
            if status != "sent":
                continue
            done = submitted_after[n]
            for number, after in enumerate(reminder_days, start=1):
                if done < 0 or done > after:
                    moment = opens + timedelta(seconds=after)
                    yield _line(
                        (
                            None,
                            invitation0 + n,
                            contact0 + n,
                            "reminder",
                            number,
                            "sent",
                            1,
                            moment,
                            moment,
                            "",
                            "",
                            moment,
                        )
                    )

    columns = [
        "wave_id",
        "invitation_id",
        "contact_id",
        "kind",
        "reminder_number",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "message_id",
        "last_error",
        "created_at",
    ]
    with _IndexesSuspended(cursor, "surveys_delivery", count * 2 >= INDEX_REBUILD_MIN_ROWS):
        return _copy(cursor, "surveys_delivery", columns, lines())

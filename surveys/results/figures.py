"""The dashboard's tables and charts by name, for their downloads (CSV, SVG, PNG) and for the
page's words where a figure cannot be divided.

Everything comes from one statistics dict (statistics.survey_statistics, with a Viewer's small
cells already suppressed by disclosure.statistics_small_cells_suppress), so a download holds
exactly the figures of the page it was taken from, under the same filters. Names:

- tables: `participation`, `by_wave`, `by_country`, `by_experience`, `by_sector`,
  `timeline_days`, `timeline_events`, and `q-<question code>`;
- charts: `funnel`, `map`, `timeline`, and `q-<question code>`.

A rate whose denominator is zero (no invitation, nobody started) is an empty cell in a CSV
and words on the page (`rate_wording`), never 0.0: nothing was divided."""

import csv
import io
from datetime import date
from typing import Any

from django.utils.safestring import SafeString

from surveys.results.filters import EXPERIENCE_UNKNOWN
from surveys.results.stats_types import QuestionStatistics, SurveyStatistics

# The denominator of each rate (docs/glossary.md, Rates).
RATE_DENOMINATORS = {
    "response_rate": "invited",
    "participation_rate": "invited",
    "completion_rate": "started",
}
# What the page says instead of a rate that divides by zero.
NOTHING_TO_DIVIDE = {"invited": "no invitations yet", "started": "no one started"}

TABLE_NAMES = (
    "participation",
    "by_wave",
    "by_country",
    "by_experience",
    "by_sector",
    "timeline_days",
    "timeline_events",
)
CHART_NAMES = ("funnel", "map", "timeline")
QUESTION_PREFIX = "q-"


def rate_wording(row: Any, rate: str) -> str:
    """The words for a rate that cannot be computed because its denominator is zero, else ""."""
    denominator = RATE_DENOMINATORS[rate]
    return NOTHING_TO_DIVIDE[denominator] if row.get(denominator) == 0 else ""


def date_label(value: str | None, *, long: bool = False) -> str:
    """An ISO date (or the date of an ISO datetime) as people read it: "3 Jun 2026", or with
    `long` "3 June 2026"; "" for none."""
    if not value:
        return ""
    day = date.fromisoformat(str(value)[:10])
    return f"{day.day} {day:%B %Y}" if long else f"{day.day} {day:%b %Y}"


def experience_label(band: str) -> str:
    return "Founding year unknown" if band == EXPERIENCE_UNKNOWN else f"{band} years"


def _rate_cell(row: Any, rate: str) -> Any:
    if row.get("suppressed") or row.get(rate) is None:
        return ""
    return "" if rate_wording(row, rate) else row[rate]


PARTICIPATION_COUNTS = (
    "invited", "emailed", "opened", "started", "partial", "completed", "opted_out", "failed",
    "bounced",
)  # fmt: skip
RATE_COLUMNS = ["response_rate", "participation_rate", "completion_rate"]


def _breakdown(rows: list[Any], label_header: str, labels: list[list[Any]], **extra: Any) -> Any:
    emailed = extra.get("emailed", False)
    counts = ["invited", *(["emailed"] if emailed else []), "opened", "started", "completed"]
    header = [*label_header.split("|"), *counts, *RATE_COLUMNS]
    body = []
    for row, label in zip(rows, labels, strict=True):
        suppressed = bool(row.get("suppressed"))
        cells = [
            "" if suppressed and name in ("started", "completed") else row.get(name)
            for name in counts
        ]
        body.append([*label, *cells, *(_rate_cell(row, rate) for rate in RATE_COLUMNS)])
    return header, body


def dashboard_table(*, stats: SurveyStatistics, name: str) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of one table of the dashboard. Raises KeyError for a name the
    dashboard of these statistics has no table for."""
    if name == "participation":
        header = ["figure", "value"]
        rows: list[list[Any]] = [[key, stats.get(key)] for key in PARTICIPATION_COUNTS]
        rows += [[rate, _rate_cell(stats, rate)] for rate in RATE_COLUMNS]
        return header, rows
    if name == "by_wave":
        return _breakdown(
            list(stats["by_wave"]),
            "wave|launched",
            [[w["name"], (w["launched_at"] or "")[:10]] for w in stats["by_wave"]],
            emailed=True,
        )
    if name == "by_country":
        return _breakdown(
            list(stats["by_country"]),
            "country|code",
            [[c["name"], c["code"]] for c in stats["by_country"]],
        )
    if name == "by_experience":
        return _breakdown(
            list(stats["by_experience"]),
            "years of experience (from the founding year)",
            [[experience_label(b["band"])] for b in stats["by_experience"]],
        )
    if name == "by_sector":
        return _breakdown(
            list(stats["by_sector"]),
            "sector",
            [[s["name"] if s["name"] is not None else "No sector"] for s in stats["by_sector"]],
        )
    if name == "timeline_days":
        return ["date", "started", "completed"], [
            [day["date"], day["starts"], day["completions"]] for day in stats["timeline"]["days"]
        ]
    if name == "timeline_events":
        window = stats["timeline"]["reminder_window_days"]
        return ["date", "send", "emails", f"completed within {window} days"], [
            [
                event["date"],
                _event_label(event),
                event["emails"],
                event.get("completions_within_days", "") if event["kind"] == "reminder" else "",
            ]
            for event in stats["timeline"]["events"]
        ]
    if name.startswith(QUESTION_PREFIX):
        return _question_table(_question(stats, name))
    raise KeyError(name)


def _event_label(event: Any) -> str:
    if event["kind"] == "wave":
        return f"Wave “{event['name']}”"
    return "Reminders" if event["kind"] == "reminder" else "Invitations outside a wave"


def _question(stats: SurveyStatistics, name: str) -> QuestionStatistics:
    code = name.removeprefix(QUESTION_PREFIX)
    for entry in stats["questions"]:
        if entry["id"] == code:
            return entry
    raise KeyError(name)


def answer_header(entry: QuestionStatistics) -> str:
    """What a question's options are: months of a date question, countries, else answers."""
    return {"date": "Month", "country": "Country"}.get(entry["type"], "Answer")


def _question_table(entry: QuestionStatistics) -> tuple[list[str], list[list[Any]]]:
    statements = entry.get("statements") or []
    if statements:
        labels = [option["label"] for option in statements[0]["options"]]
        header = ["statement", *(f"{label} (count)" for label in labels)]
        header += [f"{label} (share %)" for label in labels] + ["base", "mean"]
        rows = [
            [
                statement["text"],
                *(option["count"] for option in statement["options"]),
                *(
                    option["percent"] if statement["base"] else ""
                    for option in statement["options"]
                ),
                statement["base"],
                statement.get("mean") if statement.get("mean") is not None else "",
            ]
            for statement in statements
        ]
        return header, rows
    header = [answer_header(entry).lower(), "code", "count", "share %"]
    rows = [
        [
            option["label"],
            option["value"],
            option["count"],
            option["percent"] if entry["base"] else "",
        ]
        for option in entry["options"]
    ]
    if not rows and entry.get("answers_count") is not None:
        return ["written answers", "base"], [[entry.get("answers_count"), entry["base"]]]
    return header, rows


def table_csv(*, header: list[str], rows: list[list[Any]]) -> str:
    """CSV text (UTF-8 with a byte order mark, so that spreadsheet programs read accents),
    numbers as the statistics hold them."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def chart_png(*, svg: str, scale: float = 2.0) -> bytes:
    """A chart's SVG as a PNG at twice its size (sharp on high-density screens and in slides).
    CairoSVG is imported here: it needs the Cairo library, which only this download uses.
    Raises ChartRasterUnavailable without it."""
    try:
        import cairosvg  # type: ignore[import-untyped]  # CairoSVG ships no type hints
    except (ImportError, OSError) as error:
        raise ChartRasterUnavailable(str(error)) from error
    png: bytes = cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=scale)
    return png


class ChartRasterUnavailable(RuntimeError):
    """PNG needs CairoSVG and the Cairo library, which this machine lacks."""


def chart_svg_file(svg: SafeString | str) -> str:
    """A chart as a standalone .svg file: the XML declaration, then the chart."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + str(svg)

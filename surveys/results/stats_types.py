"""The stats JSON's shape: what `statistics.survey_statistics` returns, and what the dashboard,
the report, the API, the `survey_stats` command and static/surveys/dashboard.js read.

TypedDicts are plain dicts at run time; mypy checks the keys that producer and consumers use.
Figures and rounding are described in statistics.py's module docstring. A question's own
figures are typed where the question types shape them (QuestionFigures in
surveys/questionnaire/types/base.py).
"""

from typing import Literal, NotRequired, TypedDict

from surveys.questionnaire.types.base import (
    OptionStatistics,
    QuestionFigures,
    StatementStatistics,
)

__all__ = ["OptionStatistics", "QuestionStatistics", "StatementStatistics", "SurveyStatistics"]

# The funnel's counts that every breakdown row repeats.
CountName = Literal["invited", "opened", "started", "completed"]
# The headline counts, in the order of the stats JSON.
HeadlineName = Literal[
    "invited", "emailed", "failed", "bounced", "opted_out", "opened", "started", "partial",
    "completed",
]  # fmt: skip
RateName = Literal["response_rate", "participation_rate", "completion_rate"]


class SurveySummary(TypedDict):
    slug: str
    title: str
    status: str
    opens_at: str  # ISO 8601
    closes_at: str


class FilterParams(TypedDict):
    """The filters applied, keyed as the query parameters."""

    wave: list[int]
    country: list[str]
    sector: list[str]
    experience: list[str]
    complete_only: bool


class Funnel(TypedDict):
    """emailed: at least one delivery sent; failed / bounced: the latest invitation email.
    started, partial and completed are None for a Viewer when the set is a small cell
    (surveys/results/disclosure.py)."""

    invited: int
    emailed: int
    failed: int
    bounced: int
    opted_out: int
    opened: int
    started: int | None
    partial: int | None
    completed: int | None


class Rates(TypedDict):
    """Percentages from 0 to 100, one decimal; 0.0 when the denominator is zero; None for a
    Viewer in a small cell (surveys/results/disclosure.py)."""

    response_rate: float | None
    participation_rate: float | None
    completion_rate: float | None


class FunnelCounts(TypedDict):
    invited: int
    opened: int
    started: int | None
    completed: int | None


class BreakdownRow(FunnelCounts, Rates):
    """A row of by_wave, by_country, by_experience or by_sector. `suppressed`: a Viewer's row
    of fewer started responses than the minimum, whose started, completed and rates are None
    (surveys/results/disclosure.py)."""

    suppressed: NotRequired[bool]


class WaveRow(BreakdownRow):
    id: int
    name: str
    status: str
    launched_at: str | None
    emailed: int


class CountryRow(BreakdownRow):
    code: str  # ISO 3166-1 alpha-2
    name: str


class ExperienceRow(BreakdownRow):
    band: str  # a key of filters.EXPERIENCE_BANDS, or EXPERIENCE_UNKNOWN


class SectorRow(BreakdownRow):
    name: str | None  # None: organisations without a sector


class TimelineDay(TypedDict):
    date: str  # ISO 8601, in the site's time zone
    starts: int
    completions: int


EventKind = Literal["wave", "invitation", "reminder"]


class TimelineEvent(TypedDict):
    date: str
    kind: EventKind
    wave_id: int | None
    name: str | None  # the wave's
    emails: int
    first_sent_at: str
    completions_within_days: NotRequired[int]  # reminder events only


class Timeline(TypedDict):
    days: list[TimelineDay]
    events: list[TimelineEvent]
    reminder_window_days: int


class QuestionStatistics(QuestionFigures):
    """One question: the keys every question has, then its type's figures (options always
    present, empty for types without options)."""

    id: str  # the question's code
    text: str
    type: str  # a question type's code (surveys.questionnaire.types)
    base: int


class SurveyStatistics(Funnel, Rates):
    # Set for Viewers only (surveys/results/disclosure.py): the minimum of started responses
    # below which a row or the whole set shows no figures, and whether the whole set did.
    small_cell_minimum: NotRequired[int]
    suppressed: NotRequired[bool]
    survey: SurveySummary
    filters: FilterParams
    by_wave: list[WaveRow]
    by_country: list[CountryRow]
    by_experience: list[ExperienceRow]
    by_sector: list[SectorRow]
    timeline: Timeline
    questions: list[QuestionStatistics]

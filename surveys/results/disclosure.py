"""Small cells for Viewers (docs/glossary.md, Roles and Filters): a selection of fewer than
SMALL_CELL_MINIMUM started responses could be one organisation, so a Viewer sees "fewer than N"
instead of its figures. Staff and Admins see everything.

What counts: the started responses (glossary: "started") of the filtered set, and of each
breakdown row (by wave, country, experience, sector). A row with at least one but fewer than
the minimum started (none at all points at nobody) shows neither
its started and completed counts nor its rates; a filtered set with fewer started shows none of
them in its headline either, and no per-question figure, quote, finding or timeline. Invited,
emailed, opened, opted out, failed and bounced stay: they count invitations, not answers."""

import copy
from typing import Any

from django.conf import settings

from accounts.roles import ADMIN, STAFF, user_has_role
from surveys.results.stats_types import SurveyStatistics

BREAKDOWNS: tuple[str, ...] = ("by_wave", "by_country", "by_experience", "by_sector")
RATES = ("response_rate", "participation_rate", "completion_rate")
ROW_FIGURES = ("started", "completed", *RATES)
HEADLINE_FIGURES = ("started", "partial", "completed", *RATES)


def small_cell_minimum_for(user: Any) -> int | None:
    """The minimum of started responses below which this user sees no figures: None (no
    minimum) for Staff and Admins, SMALL_CELL_MINIMUM for everyone else (Viewers)."""
    if user_has_role(user, ADMIN, STAFF):
        return None
    return int(settings.SMALL_CELL_MINIMUM)


def is_small(started: int | None, minimum: int | None) -> bool:
    """Some responses but fewer than the minimum: none at all points at nobody (and says "no
    responses yet" as before)."""
    return minimum is not None and started is not None and 0 < started < minimum


def statistics_small_cells_suppress(
    *, stats: SurveyStatistics, minimum: int | None
) -> SurveyStatistics:
    """A copy of the stats JSON without the figures of small cells (see the module docstring):
    where figures were removed (their values None), a row's or the whole set's `suppressed`
    is true and `small_cell_minimum` says the minimum. The same dict when `minimum` is None."""
    if minimum is None:
        return stats
    shown = copy.deepcopy(stats)
    suppressed_any = False
    # The four breakdowns' rows (TypedDicts of four kinds) as plain dicts, for one loop.
    breakdowns: dict[str, list[dict[str, Any]]] = {
        name: shown[name]  # type: ignore[literal-required]  # names from BREAKDOWNS, all keys of SurveyStatistics
        for name in BREAKDOWNS
    }
    for rows in breakdowns.values():
        for row_values in rows:
            if is_small(row_values["started"], minimum):
                row_values["suppressed"] = True
                suppressed_any = True
                for key in ROW_FIGURES:
                    row_values[key] = None
    if is_small(stats["started"], minimum):
        values: dict[str, Any] = shown  # type: ignore[assignment]  # the headline keys, one loop
        values["suppressed"] = True
        suppressed_any = True
        for key in HEADLINE_FIGURES:
            values[key] = None
        shown["questions"] = []
        shown["timeline"] = {
            "days": [],
            "events": [],
            "reminder_window_days": stats["timeline"]["reminder_window_days"],
        }
    if suppressed_any:
        shown["small_cell_minimum"] = minimum
    return shown

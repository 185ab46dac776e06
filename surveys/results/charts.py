"""Server-side SVG charts for the report and the staff pages, returned as safe markup.

Every chart is an image with a name and a description (`role="img"`, `<title>`, `<desc>`
holding the figures), prints its values next to the marks so that nothing depends on colour,
uses one dark ink that keeps at least 4.5:1 contrast on white, and needs no JavaScript, web
font or external file, so it renders the same in a browser and in WeasyPrint. Each text that
comes from data is escaped here. Showing the same figures in a table nearby is the caller's job.
"""

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

INK = "#1b1b1b"
MUTED = "#4a4f55"
BAR = "#1f4e79"  # 8.9:1 on white
TRACK = "#e6e6e6"
FONT = 'font-family="sans-serif" font-size="14"'
# Light to dark, for ordered scales: the order itself reads without colour, and each segment
# prints its share; text on the two darkest is white.
SCALE_FILLS = ["#deebf7", "#9ecae1", "#6baed6", "#2171b5", "#08306b", "#041a3b"]
LABEL_LIMIT = 90


def _uid(kind: str, *parts: Any) -> str:
    """An id unique to the chart's content, so that several charts on a page do not clash."""
    digest = hashlib.sha1(
        json.dumps([kind, *parts], default=str, sort_keys=True).encode(), usedforsecurity=False
    ).hexdigest()
    return f"{kind}-{digest[:10]}"


def _clip(label: str) -> str:
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1].rstrip() + "…"


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def _open(uid: str, width: int, height: int, title: str, desc: str, css: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart {css}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{uid}-title {uid}-desc" {FONT}>'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(desc)}</desc>'
    )


def bar_chart_svg(
    *, title: str, rows: Sequence[Mapping[str, Any]], width: int = 640, max_rows: int | None = None
) -> SafeString:
    """Horizontal bars, one per row ({label, count, percent}), in the order given: the label
    above its bar and "count (percent%)" printed after it. Bars share a 0-100% scale so that
    charts can be compared; with max_rows, the rest is summed up in a last line."""
    shown = rows if max_rows is None else rows[:max_rows]
    hidden = rows[len(shown) :]
    uid = _uid("bar", title, rows, width, max_rows)
    row_height = 38
    value_space = 130
    track = width - value_space
    height = row_height * len(shown) + (22 if hidden else 0) + 6
    figures = "; ".join(
        f"{row['label']}: {row['count']} ({_percent(row['percent'])})" for row in rows
    )
    parts = [_open(uid, width, height, title, figures or "No answers.", "bar-chart")]
    for index, row in enumerate(shown):
        top = index * row_height
        length = max(0.0, min(100.0, float(row["percent"]))) * track / 100
        parts.append(
            f'<text x="0" y="{top + 13}" fill="{INK}">{escape(_clip(str(row["label"])))}</text>'
            f'<rect x="0" y="{top + 18}" width="{track}" height="14" fill="{TRACK}"/>'
            f'<rect x="0" y="{top + 18}" width="{length:.1f}" height="14" fill="{BAR}"/>'
            f'<text x="{track + 8}" y="{top + 30}" fill="{INK}" font-weight="bold">'
            f"{row['count']} ({_percent(row['percent'])})</text>"
        )
    if hidden:
        total = sum(int(row["count"]) for row in hidden)
        parts.append(
            f'<text x="0" y="{len(shown) * row_height + 14}" fill="{MUTED}">'
            f"{escape(f'{len(hidden)} more, named {total} times in all (see the table)')}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # labels escaped above; numbers are numbers


def stacked_scale_svg(
    *, title: str, scale: list[str], rows: Sequence[Mapping[str, Any]], width: int = 640
) -> SafeString:
    """One 100% bar per row ({label, base, options: [{label, count, percent}]}) split into the
    points of an ordered scale (labels in `scale`, low to high), each segment printing its
    share when there is room; a legend names the points in the same order."""
    uid = _uid("scale", title, scale, rows, width)
    row_height = 44
    legend_height = 22 * ((len(scale) + 2) // 3)
    height = row_height * len(rows) + legend_height + 10
    descriptions = []
    for row in rows:
        shares = ", ".join(
            f"{option['label']} {option['count']} ({_percent(option['percent'])})"
            for option in row["options"]
        )
        descriptions.append(f"{row['label']} (base {row.get('base', 0)}): {shares}")
    parts = [_open(uid, width, height, title, "; ".join(descriptions), "scale-chart")]
    for index, row in enumerate(rows):
        top = index * row_height
        parts.append(
            f'<text x="0" y="{top + 13}" fill="{INK}">{escape(_clip(str(row["label"])))}</text>'
        )
        x = 0.0
        for point, option in enumerate(row["options"]):
            share = max(0.0, float(option["percent"]))
            segment = width * share / 100
            fill = SCALE_FILLS[min(point, len(SCALE_FILLS) - 1)]
            parts.append(
                f'<rect x="{x:.1f}" y="{top + 18}" width="{segment:.1f}" height="20" '
                f'fill="{fill}" stroke="#ffffff" stroke-width="1"/>'
            )
            if segment >= 34:
                ink = "#ffffff" if point >= 3 else INK
                parts.append(
                    f'<text x="{x + segment / 2:.1f}" y="{top + 33}" fill="{ink}" '
                    f'text-anchor="middle" font-size="12">{round(share)}%</text>'
                )
            x += segment
    legend_top = row_height * len(rows) + 6
    column = width // 3
    for point, label in enumerate(scale):
        lx = (point % 3) * column
        ly = legend_top + (point // 3) * 22
        fill = SCALE_FILLS[min(point, len(SCALE_FILLS) - 1)]
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="16" height="16" fill="{fill}" stroke="{MUTED}"/>'
            f'<text x="{lx + 22}" y="{ly + 13}" fill="{INK}">'
            f"{escape(f'{point + 1}. {_clip(label)}')}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # labels escaped above


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def timeline_svg(
    *,
    title: str,
    days: Sequence[Mapping[str, Any]],
    events: list[dict[str, Any]] | None = None,
    width: int = 640,
    height: int = 260,
) -> SafeString:
    """Starts per day as columns and completions per day as a line with square markers, on
    one axis; each event (a wave or reminder send) is a dashed vertical line with a number
    that the list under the chart explains. Days missing from `days` count as zero."""
    events = sorted(events or [], key=lambda e: _as_date(e["date"]))
    by_day: dict[date, tuple[int, int]] = {}
    for day in days:
        starts, completions = int(day.get("starts", 0)), int(day.get("completions", 0))
        by_day[_as_date(day["date"])] = (starts, completions)
    known = _timeline_dates(days, events)
    uid = _uid("timeline", title, days, events, width, height)
    if not known:
        desc = "No responses yet."
        return mark_safe(
            _open(uid, width, 40, title, desc, "timeline-chart")
            + f'<text x="0" y="24" fill="{MUTED}">{escape(desc)}</text></svg>'
        )
    first, last = min(known), max(known)
    span = (last - first).days + 1
    if span == 1:
        return _single_day_svg(
            uid=uid, title=title, day=first, counts=by_day.get(first, (0, 0)), events=events,
            width=width,
        )  # fmt: skip
    dates = [first + timedelta(days=offset) for offset in range(span)]
    series = [by_day.get(d, (0, 0)) for d in dates]

    left, right, top = 40, 10, 26
    # Below the plot: the date labels, then the legend.
    plot_height = height - top - 60
    events_height = 20 * len(events)
    total_height = height + events_height
    plot_width = width - left - right
    step = plot_width / span
    peak = max([1, *(max(s, c) for s, c in series)])
    ceiling = _nice_ceiling(peak)

    def y_of(value: float) -> float:
        return top + plot_height * (1 - value / ceiling)

    total_starts = sum(s for s, _ in series)
    total_completions = sum(c for _, c in series)
    busiest = max(range(span), key=lambda i: (series[i][0], -i))
    desc = (
        f"From {_day(first, year=True)} to {_day(last, year=True)}: {total_starts} started and "
        f"{total_completions} completed; most starts on {_day(dates[busiest], year=True)} "
        f"({series[busiest][0]})."
    )
    if events:
        desc += " Sends: " + "; ".join(
            f"{_day(_as_date(e['date']), year=True)}: {e['label']}" for e in events
        )
    parts = [_open(uid, width, total_height, title, desc, "timeline-chart")]
    # Legend: columns are starts, the line with squares is completions.
    legend = top + plot_height + 30
    parts.append(
        f'<rect x="{left}" y="{legend}" width="12" height="12" fill="#9ecae1" stroke="{BAR}"/>'
        f'<text x="{left + 18}" y="{legend + 11}" fill="{INK}">Started</text>'
        f'<path d="M{left + 100} {legend + 6}h24" stroke="{INK}" stroke-width="2"/>'
        f'<rect x="{left + 108}" y="{legend + 2}" width="8" height="8" fill="{INK}"/>'
        f'<text x="{left + 130}" y="{legend + 11}" fill="{INK}">Completed</text>'
    )
    for tick in (0, ceiling // 2, ceiling):
        y = y_of(tick)
        parts.append(
            f'<path d="M{left} {y:.1f}h{plot_width}" stroke="{TRACK}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" fill="{MUTED}" text-anchor="end" '
            f'font-size="12">{tick}</text>'
        )
    bar_width = max(1.0, step * 0.7)
    points = []
    for index, (starts, completions) in enumerate(series):
        x = left + index * step
        if starts:
            parts.append(
                f'<rect x="{x + (step - bar_width) / 2:.1f}" y="{y_of(starts):.1f}" '
                f'width="{bar_width:.1f}" height="{y_of(0) - y_of(starts):.1f}" '
                f'fill="#9ecae1" stroke="{BAR}" stroke-width="0.5"/>'
            )
        points.append((x + step / 2, y_of(completions)))
    line = " ".join(f"{x:.1f} {y:.1f}" for x, y in points)
    parts.append(f'<path d="M{line}" fill="none" stroke="{INK}" stroke-width="1.5"/>')
    for (x, y), (_, completions) in zip(points, series, strict=True):
        if completions:
            parts.append(
                f'<rect x="{x - 2:.1f}" y="{y - 2:.1f}" width="4" height="4" fill="{INK}"/>'
            )
    parts.append(f'<path d="M{left} {y_of(0):.1f}h{plot_width}" stroke="{MUTED}"/>')
    # Date ticks: the first day, then every Monday (weekly), then the last day.
    # Over a long span every n-th Monday, so that labels (about 50 px each) never overlap.
    apart = max(3, math.ceil(56 / step))  # days between labels, and from the first and last
    mondays = [
        i for i, d in enumerate(dates) if d.weekday() == 0 and apart <= i <= span - 1 - apart
    ]
    room = max(1, int(plot_width // 56) - 2)
    every = -(-len(mondays) // room) if mondays else 1
    ticks = [0, *mondays[::every]]
    ticks += [span - 1] if span > 1 else []
    for index in ticks:
        x = left + index * step + step / 2
        parts.append(
            f'<path d="M{x:.1f} {y_of(0):.1f}v4" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{y_of(0) + 16:.1f}" fill="{MUTED}" text-anchor="middle" '
            f'font-size="12">{_day(dates[index])}</text>'
        )
    for number, event in enumerate(events, 1):
        index = (_as_date(event["date"]) - first).days
        x = left + index * step + step / 2
        parts.append(
            f'<path d="M{x:.1f} {top}V{y_of(0):.1f}" stroke="{INK}" stroke-dasharray="4 3"/>'
            f'<circle cx="{x:.1f}" cy="{top - 2}" r="8" fill="#ffffff" stroke="{INK}"/>'
            f'<text x="{x:.1f}" y="{top + 2}" fill="{INK}" text-anchor="middle" '
            f'font-size="12">{number}</text>'
        )
        label = f"{number}. {_day(_as_date(event['date']), year=True)}: {event['label']}"
        parts.append(
            f'<text x="{left}" y="{height + 20 * (number - 1) + 6}" fill="{INK}">'
            f"{escape(_clip(label))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # event labels escaped above


def _timeline_dates(
    days: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]]
) -> list[date]:
    """Every day a timeline shows: its days with responses and its days with sends."""
    return [_as_date(day["date"]) for day in days] + [_as_date(e["date"]) for e in events]


def timeline_is_single_day(
    days: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]] | None = None
) -> bool:
    """Whether timeline_svg draws the one-day chart (two bars in words) rather than the
    columns and line of several days."""
    known = _timeline_dates(days, events or [])
    return bool(known) and min(known) == max(known)


def _single_day_svg(
    *,
    uid: str,
    title: str,
    day: date,
    counts: tuple[int, int],
    events: list[dict[str, Any]],
    width: int,
) -> SafeString:
    """A timeline of one day: a column chart of a single column tells nothing, so the day is
    named in words and its two figures are bars on a common scale, with the sends listed."""
    starts, completions = counts
    when = _day(day, year=True)
    desc = f"Everything so far happened on {when}: {starts} started and {completions} completed."
    if events:
        desc += " Sends: " + "; ".join(str(e["label"]) for e in events)
    row_height = 34
    top = 34
    height = top + 2 * row_height + 20 * len(events) + 10
    parts = [_open(uid, width, height, title, desc, "timeline-chart single-day")]
    parts.append(
        f'<text x="0" y="18" fill="{INK}" font-weight="bold">'
        f"{escape(f'All on {when} (one day so far)')}</text>"
    )
    label_width = 110
    track = width - label_width - 60
    peak = max(1, starts, completions)
    for index, (label, count, fill) in enumerate(
        (("Started", starts, "#9ecae1"), ("Completed", completions, BAR))
    ):
        y = top + index * row_height
        length = track * count / peak
        parts.append(
            f'<text x="0" y="{y + 15}" fill="{INK}">{label}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{track}" height="16" fill="{TRACK}"/>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="16" fill="{fill}" '
            f'stroke="{BAR}" stroke-width="0.5"/>'
            f'<text x="{label_width + track + 8}" y="{y + 16}" fill="{INK}" '
            f'font-weight="bold">{count}</text>'
        )
    for number, event in enumerate(events, 1):
        y = top + 2 * row_height + 20 * (number - 1) + 12
        line = f"{number}. Sent that day: {event['label']}"
        parts.append(f'<text x="0" y="{y}" fill="{INK}">{escape(_clip(line))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # labels escaped above


def _day(day: date, *, year: bool = False) -> str:
    # "3 Jun", not "03 Jun": strftime has no portable day without a leading zero.
    return f"{day.day} {day:%b %Y}" if year else f"{day.day} {day:%b}"


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above value, and even, so that half is whole."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            candidate = factor * magnitude
            if candidate >= value and candidate % 2 == 0:
                return candidate
        magnitude *= 10

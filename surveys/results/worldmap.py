"""A world choropleth as server-side SVG, drawn from country outlines kept in the project.

The outlines (surveys/results/data/world-110m.json) are Natural Earth's 1:110m Admin 0 countries
(public domain) as redistributed by the npm package world-atlas 2.0.2 (ISC);
surveys/results/data/README.md says how to rebuild them with `manage.py build_world_map`. They
are stored already projected (equirectangular: x = longitude + 180, y = 90 - latitude, in
degrees, one decimal) as SVG path data per ISO 3166-1 alpha-2 code, so drawing a map is string
assembly: no GIS library at run time.

A map carries its outlines (about 80 KB of path data), so that it stands alone: the report's PDF
needs that, because WeasyPrint draws each inline <svg> on its own. A page that shows several maps
(the dashboard) prints the outlines once with `world_map_outlines_svg()` and draws its maps with
`shared_outlines=True`: each country is then a <use> of the shared outline with its own fill,
class, data attributes and title, so the maps look and read as before at a fraction of the size.
"""

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django_countries import countries

WORLD_MAP_FILE = Path(__file__).resolve().parent / "data" / "world-110m.json"

# Features that world-atlas leaves without an ISO numeric id, by their Natural Earth name.
# Kosovo has no ISO code; the glossary (and django-countries) use the user-assigned XK.
# Northern Cyprus and Somaliland are drawn as part of the ISO countries they belong to.
UNCODED_FEATURES = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}

HIDDEN_COUNTRIES = {"AQ"}

# Countries of the Europe view: the EU, EFTA, the United Kingdom, the candidate and
# neighbourhood countries of Europe (the ECCP's and COSME's reach in Europe), and the small
# states. A map whose counted countries are all in this set is drawn as Europe, not the world.
EUROPE = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
        "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "IS", "LI", "NO",
        "CH", "GB", "AL", "BA", "ME", "MK", "RS", "XK", "MD", "UA", "BY", "TR", "GE", "AM", "AZ",
        "AD", "MC", "SM", "VA", "FO", "GI", "IM", "JE", "GG", "RU",
    }
)  # fmt: skip


@dataclass(frozen=True)
class MapView:
    """What a map shows, in degrees, and how much it narrows longitude: an equirectangular
    map of Europe looks stretched wide unless longitude is scaled by the cosine of its middle
    latitude."""

    name: str
    west: float
    east: float
    north: float
    south: float
    x_factor: float = 1.0


# Latitudes shown: Antarctica and the empty far north add nothing to a choropleth of countries.
WORLD_VIEW = MapView("world", -180.0, 180.0, 84.0, -58.0)
EUROPE_VIEW = MapView("europe", -25.0, 45.0, 71.5, 34.0, x_factor=math.cos(math.radians(53)))


def map_view_for(codes: Iterable[str]) -> MapView:
    """Europe when every counted country is European (and there is one), else the world."""
    counted = {code.upper() for code in codes}
    return EUROPE_VIEW if counted and counted <= EUROPE else WORLD_VIEW


# Id prefix of the outlines that world_map_outlines_svg() prints once per page.
OUTLINE_ID_PREFIX = "world-outline-"

NO_DATA_FILL = "#e6e6e6"
# One light-to-dark ramp (readable in greyscale) plus a distinct texture per class, so that the
# classes can be told apart without colour; the legend prints each class's range.
CLASS_STYLES = [
    {"fill": "#c6dbef", "mark": "dots", "ink": "#08306b"},
    {"fill": "#6baed6", "mark": "lines", "ink": "#08306b"},
    {"fill": "#2171b5", "mark": "cross", "ink": "#ffffff"},
    {"fill": "#08306b", "mark": "none", "ink": "#ffffff"},
]


# Building the data file from world-atlas -------------------------------------------------------


def world_map_from_topojson(*, topology: dict[str, Any]) -> dict[str, Any]:
    """Convert world-atlas's countries TopoJSON to {"countries": {alpha-2: path data}, ...}.

    TopoJSON stores shared borders once as arcs, quantized and delta-encoded; a polygon ring is
    a list of arc indexes, where ~i means arc i reversed. Raises ValueError for a country whose
    id is not an ISO 3166-1 numeric code django-countries knows."""
    arcs = _decoded_arcs(topology)
    paths: dict[str, list[str]] = {}
    unknown = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = geometry.get("properties", {}).get("name", "")
        code = _feature_code(geometry.get("id"), name)
        if not code:
            unknown.append(f"{geometry.get('id')} {name}")
            continue
        if geometry["type"] == "Polygon":
            polygons = [geometry["arcs"]]
        elif geometry["type"] == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        rings = [_ring_path(arcs, ring) for polygon in polygons for ring in polygon]
        paths.setdefault(code, []).extend(ring for ring in rings if ring)
    if unknown:
        raise ValueError(f"Countries without an ISO code: {', '.join(unknown)}")
    return {
        "source": "world-atlas 2.0.2 countries-110m.json: Natural Earth 4.1.0 Admin 0 "
        "countries, 1:110m (public domain); world-atlas is ISC-licensed",
        "projection": "equirectangular: x = longitude + 180, y = 90 - latitude (degrees)",
        "width": 360,
        "height": 180,
        "countries": {code: "".join(rings) for code, rings in sorted(paths.items())},
    }


def world_map_dumps(*, data: dict[str, Any]) -> str:
    """JSON text with one country per line, so that a rebuild shows a readable diff."""
    head = {key: value for key, value in data.items() if key != "countries"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "countries": {']
    items = list(data["countries"].items())
    for index, (code, path) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        lines.append(f"{json.dumps(code)}: {json.dumps(path)}{comma}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


def _feature_code(numeric: Any, name: str) -> str:
    if numeric is None:
        return UNCODED_FEATURES.get(name, "")
    return countries.alpha2(str(numeric)) or ""


def _decoded_arcs(topology: dict[str, Any]) -> list[list[tuple[int, int]]]:
    """Every arc as absolute points, projected and in tenths of a degree (integers, so that
    the relative path commands written later add up exactly)."""
    (scale_x, scale_y), (shift_x, shift_y) = (
        topology["transform"]["scale"],
        topology["transform"]["translate"],
    )
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            longitude = x * scale_x + shift_x
            latitude = y * scale_y + shift_y
            points.append((round((longitude + 180) * 10), round((90 - latitude) * 10)))
        decoded.append(points)
    return decoded


def _ring_path(arcs: list[list[tuple[int, int]]], ring: list[int]) -> str:
    points: list[tuple[int, int]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        # Consecutive arcs share their end points.
        points.extend(arc[1:] if points else arc)
    compact: list[tuple[int, int]] = []
    for point in points:
        if not compact or point != compact[-1]:
            compact.append(point)
    if len(compact) > 1 and compact[0] == compact[-1]:
        compact.pop()
    if len(compact) < 3:
        return ""
    # A ring that crosses the antimeridian would draw a stroke across the whole map: keep it
    # continuous instead (its far side then falls outside the map and is clipped).
    unwrapped = [compact[0]]
    for x, y in compact[1:]:
        previous_x = unwrapped[-1][0]
        while x - previous_x > 1800:
            x -= 3600
        while previous_x - x > 1800:
            x += 3600
        unwrapped.append((x, y))
    parts = [f"M{_tenths(unwrapped[0][0])} {_tenths(unwrapped[0][1])}l"]
    deltas = []
    for (x0, y0), (x1, y1) in itertools.pairwise(unwrapped):
        deltas.append(f"{_tenths(x1 - x0)} {_tenths(y1 - y0)}")
    parts.append(" ".join(deltas).replace(" -", "-"))
    parts.append("z")
    return "".join(parts)


def _tenths(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, tenth = divmod(abs(value), 10)
    return f"{sign}{whole}.{tenth}" if tenth else f"{sign}{whole}"


# Drawing ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def world_map_data() -> dict[str, Any]:
    """The projected outlines, read once per process."""
    return json.loads(WORLD_MAP_FILE.read_text(encoding="utf-8"))


def count_classes(*, values: list[int], class_count: int = 4) -> list[tuple[int, int]]:
    """Natural breaks (Fisher-Jenks: the split that minimises the spread within classes) of
    the positive counts, as contiguous integer ranges [(low, high), ...] from low to high.

    Equal intervals would put all but a few countries in the first class, quantiles would put
    the top countries with much smaller ones; natural breaks keep the leaders apart."""
    data = sorted(v for v in values if v > 0)
    if not data:
        return []
    distinct = sorted(set(data))
    k = min(class_count, len(distinct))
    n = len(data)
    prefix = [0.0]
    squares = [0.0]
    for value in data:
        prefix.append(prefix[-1] + value)
        squares.append(squares[-1] + value * value)

    def spread(i: int, j: int) -> float:  # values data[i:j]
        total = prefix[j] - prefix[i]
        return squares[j] - squares[i] - total * total / (j - i)

    infinity = float("inf")
    # cost[c][j]: best spread of data[:j] in c classes; split[c][j]: where the last class starts.
    cost = [[infinity] * (n + 1) for _ in range(k + 1)]
    split = [[0] * (n + 1) for _ in range(k + 1)]
    cost[0][0] = 0.0
    for c in range(1, k + 1):
        for j in range(1, n + 1):
            for i in range(c - 1, j):
                # Equal values stay in one class: a class may not start inside a run of ties.
                if i > 0 and data[i] == data[i - 1]:
                    continue
                candidate = cost[c - 1][i] + spread(i, j)
                if candidate < cost[c][j]:
                    cost[c][j], split[c][j] = candidate, i
    starts = []
    j = n
    for c in range(k, 0, -1):
        i = split[c][j]
        starts.append(i)
        j = i
    starts.reverse()
    highs = [data[end - 1] for end in [*starts[1:], n]]
    lows = [1, *(high + 1 for high in highs[:-1])]
    return list(zip(lows, highs, strict=True))


def world_map_outlines_svg() -> SafeString:
    """Every drawn country's outline once, as path definitions in an SVG that shows nothing,
    for the maps of the same page drawn with `shared_outlines=True`. The outlines carry no
    fill or stroke of their own, so that each <use> gives them its map's."""
    paths = "".join(
        f'<path id="{OUTLINE_ID_PREFIX}{code}" d="{path}"/>'
        for code, path in world_map_data()["countries"].items()
        if code not in HIDDEN_COUNTRIES
    )
    # Not display:none: some browsers then draw no <use> of it. The class takes it out of
    # the flow (dashboard.css); width and height 0 keep it invisible without the style sheet.
    return mark_safe(
        '<svg xmlns="http://www.w3.org/2000/svg" class="world-map-outlines" width="0" '
        f'height="0" aria-hidden="true" focusable="false"><defs>{paths}</defs></svg>'
    )


def world_map_svg(
    *,
    counts: dict[str, int],
    title: str,
    width: int = 720,
    shared_outlines: bool = False,
    legend_title: str = "",
    no_data_label: str = "No answers",
    view: MapView | None = None,
) -> SafeString:
    """A choropleth of counts by ISO alpha-2 code: a few classes told apart by shade and
    texture, countries without data in light grey, a legend (under `legend_title`, which says
    what is counted) with each class's range, and a note naming counted countries too small
    to draw at this scale.

    The view fits the data (map_view_for): Europe when every counted country is European,
    else the world; `view` forces one. With `shared_outlines`, countries reference the
    outlines of `world_map_outlines_svg()`, which the page must then hold once; without, the
    map carries its own."""
    data = world_map_data()
    outlines: dict[str, str] = data["countries"]
    counts = {code.upper(): count for code, count in counts.items() if count > 0}
    view = view or map_view_for(counts)
    classes = count_classes(values=list(counts.values()))
    uid = (
        "map-"
        + hashlib.sha1(
            (title + view.name + json.dumps(sorted(counts.items()))).encode(),
            usedforsecurity=False,
        ).hexdigest()[:8]
    )

    scale = width / ((view.east - view.west) * view.x_factor)
    map_height = (view.north - view.south) * scale
    legend_top = map_height + 16
    undrawn = sorted(
        (code for code in counts if code not in outlines),
        key=lambda code: (-counts[code], code),
    )
    legend_rows = len(classes) + 1 + (1 if undrawn else 0) + (1 if legend_title else 0)
    height = round(legend_top + legend_rows * 22 + 8)
    region = "Europe" if view is EUROPE_VIEW else ""
    described = _map_description(counts, classes, undrawn)
    if region:
        described = f"Map of {region}. {described}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart world-map" '
        f'data-map-view="{view.name}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{uid}-title {uid}-desc" font-family="sans-serif" font-size="14">',
        f'<title id="{uid}-title">{escape(title)}</title>',
        f'<desc id="{uid}-desc">{escape(described)}</desc>',
        "<defs>",
        *(
            _class_pattern(uid, number, style, zoom=scale / WORLD_SCALE)
            for number, style in enumerate(CLASS_STYLES, 1)
            if style["mark"] != "none"
        ),
        f'<clipPath id="{uid}-clip"><rect width="{width}" height="{map_height:.1f}"/></clipPath>',
        "</defs>",
        f'<rect width="{width}" height="{map_height:.1f}" fill="#ffffff" stroke="#767676"/>',
        f'<g clip-path="url(#{uid}-clip)">',
        f'<g transform="scale({scale * view.x_factor:.4f} {scale:.4f}) '
        f'translate({-(view.west + 180):.1f} {-(90 - view.north):.1f})" '
        f'stroke="#ffffff" stroke-width="{0.6 / scale:.3f}" stroke-linejoin="round" '
        'fill-rule="evenodd">',
    ]
    for code, path in outlines.items():
        if code in HIDDEN_COUNTRIES:
            continue
        shape = _shared_shape(code) if shared_outlines else _inline_shape(path)
        count = counts.get(code)
        if count is None:
            parts.append(shape(f'data-country="{code}" fill="{NO_DATA_FILL}"', ""))
            continue
        number = _class_number(count, classes)
        name = escape(str(countries.name(code)) or code)
        style = CLASS_STYLES[number - 1]
        parts.append(
            shape(
                f'data-country="{code}" data-count="{count}" class="map-class-{number}" '
                f'fill="{style["fill"]}"',
                f"<title>{name}: {count}</title>",
            )
        )
        if style["mark"] != "none":
            # The texture is a second, transparent layer: PDF viewers draw hairline seams
            # between the tiles of an opaque pattern.
            parts.append(shape(f'fill="url(#{uid}-class-{number})" stroke="none"', ""))
    parts.append("</g>")
    parts.append("</g>")
    parts.append(f'<g class="legend" transform="translate(0 {legend_top:.1f})">')
    y = 0
    if legend_title:
        parts.append(
            f'<text x="0" y="14" fill="#1b1b1b" font-weight="bold">{escape(legend_title)}</text>'
        )
        y += 22
    for number, (low, high) in enumerate(classes, 1):
        style = CLASS_STYLES[number - 1]
        texture = f"url(#{uid}-class-{number})" if style["mark"] != "none" else ""
        parts.append(_legend_row(y, style["fill"], texture, _range_label(low, high), scale))
        y += 22
    parts.append(_legend_row(y, NO_DATA_FILL, "", no_data_label, scale))
    y += 22
    if undrawn:
        names = ", ".join(f"{countries.name(code) or code} ({counts[code]})" for code in undrawn)
        parts.append(
            f'<text x="0" y="{y + 14}" fill="#1b1b1b">'
            f"{escape('Too small to show at this scale: ' + names)}</text>"
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # every text above is escaped


def _inline_shape(path: str) -> Callable[[str, str], str]:
    """A country drawn with its own path data: (attributes, content) -> markup."""

    def shape(attributes: str, content: str) -> str:
        if content:
            return f'<path {attributes} d="{path}">{content}</path>'
        return f'<path {attributes} d="{path}"/>'

    return shape


def _shared_shape(code: str) -> Callable[[str, str], str]:
    """A country drawn as a <use> of its outline in world_map_outlines_svg(), which takes its
    fill and stroke from the <use>; a <title> inside a <use> is its tooltip, as in a path."""

    def shape(attributes: str, content: str) -> str:
        href = f'href="#{OUTLINE_ID_PREFIX}{code}"'
        if content:
            return f"<use {href} {attributes}>{content}</use>"
        return f"<use {href} {attributes}/>"

    return shape


def _class_number(count: int, classes: list[tuple[int, int]]) -> int:
    for number, (low, high) in enumerate(classes, 1):
        if low <= count <= high:
            return number
    return len(classes)


def _range_label(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}\N{EN DASH}{high}"


def _map_description(
    counts: dict[str, int], classes: list[tuple[int, int]], undrawn: list[str]
) -> str:
    if not counts:
        return "No country was named."
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    named = "; ".join(f"{countries.name(code) or code}: {count}" for code, count in ranked[:10])
    ranges = ", ".join(_range_label(low, high) for low, high in classes)
    more = f" and {len(ranked) - 10} more" if len(ranked) > 10 else ""
    return f"{len(ranked)} countries named. Most named: {named}{more}. Classes: {ranges}."


# Pixels per degree of the world view at the default width, at which the textures were drawn.
WORLD_SCALE = 2.0


def _class_pattern(uid: str, number: int, style: dict[str, str], *, zoom: float = 1.0) -> str:
    # Tiles in map units (degrees); about 4 px on the world map at the default width, and as
    # many on a zoomed view (Europe), whose degrees are larger: the tile shrinks by the zoom.
    ink = style["ink"]
    transform = f' patternTransform="scale({1 / zoom:.4f})"' if abs(zoom - 1) > 0.01 else ""
    marks = {
        "dots": f'<circle cx="1" cy="1" r="0.35" fill="{ink}"/>',
        "lines": f'<path d="M0 2L2 0" stroke="{ink}" stroke-width="0.3"/>',
        "cross": f'<path d="M0 2L2 0M0 0L2 2" stroke="{ink}" stroke-width="0.25"/>',
    }
    return (
        f'<pattern id="{uid}-class-{number}" patternUnits="userSpaceOnUse" width="2" '
        f'height="2"{transform}>{marks[style["mark"]]}</pattern>'
    )


def _legend_row(y: int, fill: str, texture: str, label: str, scale: float) -> str:
    # The swatch is drawn in map units, so that its texture matches the map's.
    size = f'width="{28 / scale:.2f}" height="{16 / scale:.2f}"'
    layer = f'<rect {size} fill="{texture}"/>' if texture else ""
    return (
        f'<g transform="translate(0 {y}) scale({scale:.4f})"><rect {size} fill="{fill}" '
        f'stroke="#767676" stroke-width="{1 / scale:.2f}"/>{layer}</g>'
        f'<text x="36" y="{y + 13}" fill="#1b1b1b">{escape(label)}</text>'
    )

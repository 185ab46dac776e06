"""Server-side SVG charts (surveys.results.charts) and the world map (surveys.results.worldmap,
its data file and the build_world_map command)."""

import itertools
import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django_countries import countries

from surveys.results.charts import bar_chart_svg, stacked_scale_svg, timeline_svg
from surveys.results.worldmap import (
    NO_DATA_FILL,
    WORLD_MAP_FILE,
    count_classes,
    world_map_data,
    world_map_outlines_svg,
    world_map_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & Co'
DEMO_TARGETS = {
    "US": 107, "CA": 89, "CN": 76, "JP": 61, "IN": 52, "BR": 44, "KR": 37, "MX": 30, "SG": 24,
    "AU": 19, "RU": 15, "ZA": 12, "AR": 8, "EG": 5, "CL": 4, "XK": 2, "FJ": 1,
}  # fmt: skip


def parsed(svg: str) -> ET.Element:
    """The chart as XML: fails when an unescaped label broke the markup."""
    return ET.fromstring(svg)


def assert_accessible_image(svg: str, title: str) -> ET.Element:
    root = parsed(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title_element = root.find(f"{SVG}title")
    desc_element = root.find(f"{SVG}desc")
    assert title_element is not None and title_element.text == title
    assert desc_element is not None and desc_element.text
    assert root.get("aria-labelledby") == f"{title_element.get('id')} {desc_element.get('id')}"
    # Self-contained: nothing fetched, nothing run.
    assert "<script" not in svg and 'href="http' not in svg and "@import" not in svg
    return root


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


ROWS = [
    {"label": "2-3 times a month", "count": 64, "percent": 26.7},
    {"label": "Once a week", "count": 56, "percent": 23.3},
    {"label": HOSTILE, "count": 3, "percent": 1.3},
]


# Bar chart --------------------------------------------------------------------------------------


def test_bar_chart_is_a_named_image_with_every_figure_printed():
    svg = bar_chart_svg(title="How often?", rows=ROWS)
    root = assert_accessible_image(svg, "How often?")
    printed = texts(root)
    # Value labels on the bars: the figures read without colour.
    assert "64 (26.7%)" in printed
    assert "56 (23.3%)" in printed
    assert "2-3 times a month" in printed
    desc = root.findtext(f"{SVG}desc", "")
    assert "2-3 times a month: 64 (26.7%)" in desc
    assert "Once a week: 56 (23.3%)" in desc


def test_bar_chart_escapes_labels_and_title():
    svg = bar_chart_svg(title=f"Title {HOSTILE}", rows=ROWS)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    root = assert_accessible_image(svg, f"Title {HOSTILE}")
    assert HOSTILE in texts(root)


def test_bar_lengths_follow_the_shares_on_one_scale():
    svg = bar_chart_svg(title="t", rows=ROWS, width=630)  # 500 px of track
    widths = [
        float(w)
        for w in re.findall(r'<rect x="0" y="\d+" width="([\d.]+)" height="14" fill="#1f4e79"', svg)
    ]
    assert widths == [133.5, 116.5, 6.5]


def test_bar_chart_max_rows_shows_the_first_and_sums_up_the_rest():
    svg = bar_chart_svg(title="t", rows=ROWS, max_rows=2)
    printed = texts(parsed(svg))
    assert "56 (23.3%)" in printed
    assert "3 (1.3%)" not in printed
    assert any(text.startswith("1 more, named 3 times") for text in printed)
    # The description still holds every figure.
    assert "3 (1.3%)" in parsed(svg).findtext(f"{SVG}desc", "")


def test_charts_on_one_page_get_distinct_ids():
    first = parsed(bar_chart_svg(title="One", rows=ROWS))
    second = parsed(bar_chart_svg(title="Two", rows=ROWS))
    assert first.find(f"{SVG}title").get("id") != second.find(f"{SVG}title").get("id")


# Stacked scale ---------------------------------------------------------------------------------


def test_stacked_scale_prints_shares_and_names_the_scale_points():
    scale = ["Disagree", "Neutral", HOSTILE]
    rows = [
        {
            "label": "The site is easy to use",
            "base": 10,
            "options": [
                {"label": "Disagree", "count": 2, "percent": 20.0},
                {"label": "Neutral", "count": 3, "percent": 30.0},
                {"label": HOSTILE, "count": 5, "percent": 50.0},
            ],
        }
    ]
    svg = stacked_scale_svg(title="Agreement", scale=scale, rows=rows)
    root = assert_accessible_image(svg, "Agreement")
    printed = texts(root)
    assert {"20%", "30%", "50%"} <= set(printed)
    assert "1. Disagree" in printed and f"3. {HOSTILE}" in printed
    assert "<script>" not in svg
    assert "The site is easy to use (base 10): Disagree 2 (20.0%)" in root.findtext(
        f"{SVG}desc", ""
    )


# Timeline ---------------------------------------------------------------------------------------


def test_timeline_fills_missing_days_and_marks_each_send():
    days = [
        {"date": "2019-05-14", "starts": 40, "completions": 30},
        {"date": date(2019, 5, 17), "starts": 5, "completions": 6},
    ]
    events = [
        {"date": "2019-05-16", "label": f"Reminder {HOSTILE}"},
        {"date": "2019-05-14", "label": "Wave 1"},
    ]
    svg = timeline_svg(title="Per day", days=days, events=events)
    root = assert_accessible_image(svg, "Per day")
    printed = texts(root)
    # Events are numbered in date order and listed under the chart.
    assert "1. 14 May 2019: Wave 1" in printed
    assert f"2. 16 May 2019: Reminder {HOSTILE}" in printed
    assert {"Started", "Completed"} <= set(printed)
    desc = root.findtext(f"{SVG}desc", "")
    assert "From 14 May 2019 to 17 May 2019: 45 started and 36 completed" in desc
    # Four days on the axis, so the completions line has four points, zeros included.
    line = next(p for p in root.iter(f"{SVG}path") if p.get("fill") == "none")
    assert len(line.get("d", "").split()) == 8
    assert svg.count('stroke-dasharray="4 3"') == 2


def test_timeline_without_data_says_so():
    svg = timeline_svg(title="Per day", days=[], events=[])
    assert "No responses yet." in texts(assert_accessible_image(svg, "Per day"))


# World map -------------------------------------------------------------------------------------


def test_natural_breaks_keep_the_leaders_apart():
    classes = count_classes(values=list(DEMO_TARGETS.values()))
    # The three leaders of the demo (US, Canada, China) share the top class.
    assert classes == [(1, 15), (16, 37), (38, 61), (62, 107)]
    # Contiguous ranges from 1 to the largest count.
    assert classes[0][0] == 1 and classes[-1][1] == 107
    assert all(high + 1 == low for (_, high), (low, _) in itertools.pairwise(classes))


def test_classes_never_outnumber_the_distinct_counts():
    assert count_classes(values=[14, 14, 13, 2]) == [(1, 2), (3, 13), (14, 14)]
    assert count_classes(values=[5]) == [(1, 5)]
    assert count_classes(values=[]) == []


def map_paths(svg: str) -> dict[str, ET.Element]:
    root = parsed(svg)
    return {p.get("data-country", ""): p for p in root.iter(f"{SVG}path") if p.get("data-country")}


def test_world_map_shades_countries_by_class_with_a_legend():
    svg = world_map_svg(counts=DEMO_TARGETS, title="Target countries")
    root = assert_accessible_image(svg, "Target countries")
    paths = map_paths(svg)
    assert paths["US"].get("class") == "map-class-4" and paths["US"].get("data-count") == "107"
    assert paths["CA"].get("class") == "map-class-4"
    assert paths["CN"].get("class") == "map-class-4"
    assert paths["JP"].get("class") == "map-class-3"
    assert paths["AU"].get("class") == "map-class-2"
    assert paths["RU"].get("class") == "map-class-1"
    assert paths["XK"].get("class") == "map-class-1"  # Kosovo is drawn, under XK
    # Classes differ in shade and in texture (a pattern layer), not in hue alone.
    fills = {paths[code].get("fill") for code in ("US", "JP", "AU", "RU")}
    assert len(fills) == 4
    assert svg.count("<pattern ") == 3
    # Countries nobody named are light grey and carry no class.
    assert paths["FR"].get("fill") == NO_DATA_FILL and paths["FR"].get("class") is None
    legend = texts(root)
    dash = "\N{EN DASH}"
    assert legend[:5] == [f"1{dash}15", f"16{dash}37", f"38{dash}61", f"62{dash}107", "No answers"]
    # Singapore is too small for the 1:110m outlines: it is named rather than lost.
    assert "SG" not in paths
    assert any("Singapore (24)" in text for text in legend)
    desc = root.findtext(f"{SVG}desc", "")
    assert "United States of America: 107; Canada: 89; China: 76" in desc


def test_world_map_escapes_its_title_and_draws_without_data():
    svg = world_map_svg(counts={}, title=HOSTILE)
    assert "<script>" not in svg
    assert_accessible_image(svg, HOSTILE)
    assert all(p.get("fill") == NO_DATA_FILL for p in map_paths(svg).values())


def test_a_map_on_shared_outlines_reads_and_draws_as_the_map_with_its_own():
    """Same countries, fills, classes, counts, titles, patterns, legend and description: only
    the geometry moves out, to <use>s of world_map_outlines_svg()'s paths."""
    inline = world_map_svg(counts=DEMO_TARGETS, title="Target countries")
    shared = world_map_svg(counts=DEMO_TARGETS, title="Target countries", shared_outlines=True)
    root = assert_accessible_image(shared, "Target countries")
    outlines = {
        p.get("id"): p.get("d", "") for p in parsed(world_map_outlines_svg()).iter(f"{SVG}path")
    }

    def shapes(svg: str, tag: str) -> list[dict[str, str]]:
        drawn = []
        for element in parsed(svg).iter(f"{SVG}{tag}"):
            if element.get("data-country") or "url(#" in (element.get("fill") or ""):
                attributes = {k: v for k, v in element.attrib.items() if k not in ("d", "href")}
                title = element.find(f"{SVG}title")
                attributes["title"] = (title.text or "") if title is not None else ""
                # The geometry: its own path data, or the outline its reference names.
                attributes["d"] = element.get("d") or outlines[element.get("href", "")[1:]]
                drawn.append(attributes)
        return drawn

    assert shapes(shared, "use") == shapes(inline, "path")
    assert len(shapes(shared, "use")) > 170
    assert " d=" not in shared.split("</defs>", 1)[1].split('<g class="legend"')[0]
    assert texts(root) == texts(parsed(inline))
    assert root.findtext(f"{SVG}desc", "") == parsed(inline).findtext(f"{SVG}desc", "")
    assert shared.count("<pattern ") == inline.count("<pattern ") == 3
    assert len(shared) < len(inline) / 4


def test_the_shared_outlines_are_invisible_and_unstyled():
    outlines = parsed(world_map_outlines_svg())
    assert (outlines.get("width"), outlines.get("height")) == ("0", "0")
    assert outlines.get("aria-hidden") == "true" and outlines.get("role") is None
    paths = list(outlines.iter(f"{SVG}path"))
    assert {p.get("id") for p in paths} == {
        f"world-outline-{code}" for code in world_map_data()["countries"] if code != "AQ"
    }
    # Fill and stroke come from each <use>, so the outline must set none.
    assert all(set(p.attrib) == {"id", "d"} for p in paths)


def test_world_map_data_is_small_and_keyed_by_alpha_2_codes():
    assert WORLD_MAP_FILE.stat().st_size < 300_000
    outlines = world_map_data()["countries"]
    assert len(outlines) > 170
    assert {"US", "CA", "CN", "XK", "FR", "CY", "SO"} <= set(outlines)
    unknown = [code for code in outlines if code != "XK" and not countries.alpha2(code)]
    assert unknown == []
    # Equirectangular, one decimal: x within 0..360 at the start of each ring.
    for match in re.finditer(r"M(-?[\d.]+) (-?[\d.]+)", outlines["US"]):
        assert 0 <= float(match.group(1)) <= 360 and 0 <= float(match.group(2)) <= 180


# build_world_map --------------------------------------------------------------------------------


TINY_TOPOLOGY = {
    "type": "Topology",
    "transform": {"scale": [0.1, 0.1], "translate": [-10, 40]},
    # Two squares, quantized and delta-encoded. Arc 0 is their shared side, (20,0) to (20,20);
    # the western square (id 250) runs it backwards (~0 = -1), the eastern (Kosovo, no id)
    # forwards after its own arc 2.
    "arcs": [
        [[20, 0], [0, 20]],
        [[20, 0], [-20, 0], [0, 20], [20, 0]],
        [[20, 20], [20, 0], [0, -20], [-20, 0]],
    ],
    "objects": {
        "countries": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "id": "250", "arcs": [[-1, 1]], "properties": {"name": "F"}},
                {"type": "Polygon", "arcs": [[2, 0]], "properties": {"name": "Kosovo"}},
            ],
        }
    },
}


def test_build_world_map_decodes_arcs_into_alpha_2_paths(tmp_path):
    source = tmp_path / "countries.json"
    source.write_text(json.dumps(TINY_TOPOLOGY))
    output = tmp_path / "world.json"
    out = StringIO()
    call_command("build_world_map", str(source), output=str(output), stdout=out)
    data = json.loads(output.read_text())
    # Quantized (qx, qy) is longitude qx / 10 - 10, latitude qy / 10 + 40, so x = qx / 10 + 170
    # and y = 50 - qy / 10 (y grows southwards); the ring's closing point becomes "z".
    assert data["countries"] == {
        "FR": "M172 48l0 2-2 0 0-2z",
        "XK": "M172 48l2 0 0 2-2 0z",
    }
    assert "Wrote 2 countries" in out.getvalue()
    assert "Natural Earth" in data["source"]


def test_build_world_map_refuses_a_country_without_an_iso_code(tmp_path):
    topology = json.loads(json.dumps(TINY_TOPOLOGY))
    topology["objects"]["countries"]["geometries"][0]["id"] = "999"
    source = tmp_path / "countries.json"
    source.write_text(json.dumps(topology))
    with pytest.raises(Exception, match="without an ISO code: 999 F"):
        call_command("build_world_map", str(source), output=str(tmp_path / "w.json"))

"""The history chart: a pure function from hourly counts to inline SVG text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.store.history import HOURS, History, HourCounts, hour_starts
from gateway.web.history_chart import history_svg

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2027, 1, 15, 13, 20, tzinfo=UTC).timestamp()


def history(counts: list[tuple[int, int, int]], tz: str = "Europe/Paris") -> History:
    zone = ZoneInfo(tz)
    hours = []
    for start, (granted, denied, alarms) in zip(hour_starts(NOW, zone), counts, strict=True):
        local = datetime.fromtimestamp(start, zone)
        label = local.strftime("%H:%M")
        hours.append(HourCounts(start, label, local.isoformat(), granted, denied, alarms))
    return History(tuple(hours), tz)


def quiet_day() -> list[tuple[int, int, int]]:
    counts = [(0, 0, 0)] * HOURS
    counts[9] = (40, 3, 0)
    counts[10] = (12, 0, 1)
    counts[23] = (5, 2, 2)
    return counts


def bars(root: ET.Element, kind: str) -> list[ET.Element]:
    """The bars of one series (the legend's keys are not bars)."""
    return [r for r in root.iter(f"{SVG}rect") if {"bar", kind} <= set(r.get("class", "").split())]


def test_the_chart_is_well_formed_svg_with_one_bar_per_hour_and_series() -> None:
    root = ET.fromstring(history_svg(history(quiet_day())))
    assert root.tag == f"{SVG}svg"
    assert len(bars(root, "granted")) == HOURS
    assert len(bars(root, "denied")) == HOURS
    heights = [float(r.get("height", "0")) for r in bars(root, "granted")]
    assert heights[9] == max(heights) > heights[10] > heights[23] > 0 == heights[0]


def test_the_chart_has_a_title_a_description_and_axis_labels() -> None:
    root = ET.fromstring(history_svg(history(quiet_day())))
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "last 24 hours" in (title.text or "")
    assert "57 granted, 5 denied, 3 door alarms" in (desc.text or "")
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert "15:00" in texts and "12:00" in texts  # hour labels, local time
    assert "0" in texts and any(t.isdigit() and int(t) >= 43 for t in texts)  # the y axis
    assert any("Europe/Paris" in t for t in texts)  # which hours these are


def test_each_hour_says_its_counts_for_a_pointer_or_screen_reader() -> None:
    root = ET.fromstring(history_svg(history(quiet_day())))
    hour_titles = [g.find(f"{SVG}title") for g in root.iter(f"{SVG}g") if g.get("class") == "hour"]
    assert len(hour_titles) == HOURS
    assert hour_titles[10] is not None
    assert hour_titles[10].text == "01:00-02:00: 12 granted, 0 denied, 1 door alarm"


def test_alarms_are_marked_on_their_hours_only() -> None:
    root = ET.fromstring(history_svg(history(quiet_day())))
    marks = [e for e in root.iter() if "alarm" in e.get("class", "").split()]
    assert len(marks) == 2  # hours 10 and 23


def test_an_empty_day_still_draws_a_readable_chart() -> None:
    svg = history_svg(history([(0, 0, 0)] * HOURS))
    root = ET.fromstring(svg)
    assert len(bars(root, "granted")) == HOURS
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "0 granted, 0 denied, 0 door alarms" in (desc.text or "")


def test_text_is_escaped() -> None:
    svg = history_svg(history(quiet_day()), title='<script>alert("x")</script> & more')
    root = ET.fromstring(svg)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == '<script>alert("x")</script> & more'
    assert "<script>" not in svg


def test_two_charts_on_one_page_have_distinct_ids() -> None:
    first = ET.fromstring(history_svg(history(quiet_day()), id_prefix="a"))
    second = ET.fromstring(history_svg(history(quiet_day()), id_prefix="b"))
    ids = {e.get("id") for e in [*first.iter(), *second.iter()] if e.get("id")}
    assert len(ids) == 4

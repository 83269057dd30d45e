"""The 24-hour history as inline SVG, drawn on the server: no JavaScript, no library.

`history_svg` is a pure function of the hourly counts (`gateway.store.history.History`):
one column per hour, grants stacked under denials, a triangle over an hour with a door
alarm, a y axis with round ticks and local hour labels on the x axis. For assistive
technology the chart is an image with a title and a description that says the totals,
and each hour carries a `<title>` with its own counts (a tooltip under a pointer). Every
piece of text is escaped; colours come from classes the page's stylesheet may override,
with fills inline so the SVG reads on its own too.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.store.history import History, HourCounts

WIDTH, HEIGHT = 600, 300
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 26, 56  # margins: y labels, x labels and legend
LABEL_EVERY = 3  # hours between x-axis labels
MAX_TICKS = 5
GRANTED_FILL, DENIED_FILL, ALARM_FILL, INK = "#2e7d32", "#c62828", "#ef6c00", "#555"
DEFAULT_TITLE = "Access in the last 24 hours"


def history_svg(history: History, title: str = DEFAULT_TITLE, id_prefix: str = "history") -> str:
    """The chart of `history` as an `<svg>` element's text (well-formed XML)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step, top = axis_scale(max((h.granted + h.denied for h in history.hours), default=0))
    column = plot_w / max(len(history.hours), 1)
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="history-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{title_id} {desc_id}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(describe(history))}</desc>',
    ]
    parts += _y_axis(step, top, plot_w, plot_h)
    for index, hour in enumerate(history.hours):
        x = LEFT + index * column
        parts.append(_hour_column(hour, x, column, top, plot_h))
        if index % LABEL_EVERY == 0:
            parts.append(_text(x + column / 2, TOP + plot_h + 16, hour.label, "middle"))
    parts += _legend(history.timezone, plot_h)
    parts.append("</svg>")
    return "\n".join(parts)


def axis_scale(highest: int) -> tuple[int, int]:
    """(tick step, axis top) for a y axis reaching `highest`: a step of 1, 2 or 5 times a
    power of ten, at most `MAX_TICKS` steps; an empty day still gets an axis up to 5."""
    highest = max(highest, 1)
    magnitude = 10 ** max(0, math.floor(math.log10(highest / MAX_TICKS)))
    for factor in (1, 2, 5, 10):
        step = factor * magnitude
        if math.ceil(highest / step) <= MAX_TICKS:
            return step, step * max(1, math.ceil(highest / step))
    return 10 * magnitude, 10 * magnitude * MAX_TICKS  # not reached: the loop ends at 10


def describe(history: History) -> str:
    """One sentence of totals and the busiest hour, for the chart's description."""
    totals = history.totals()
    text = (
        f"In the last 24 hours ({history.timezone}): {totals['granted']} granted, "
        f"{totals['denied']} denied, {totals['alarms']} door alarms."
    )
    busiest = max(history.hours, key=lambda h: h.granted + h.denied, default=None)
    if busiest is not None and busiest.granted + busiest.denied:
        text += f" Busiest hour: {busiest.label} ({busiest.granted + busiest.denied} decisions)."
    return text


def hour_range(hour: HourCounts) -> str:
    """ "01:00-02:00": the hour's local start and end."""
    hours, minutes = hour.label.split(":")
    return f"{hour.label}-{(int(hours) + 1) % 24:02d}:{minutes}"


def hour_text(hour: HourCounts) -> str:
    """ "01:00-02:00: 12 granted, 0 denied, 1 door alarm"."""
    alarms = "1 door alarm" if hour.alarms == 1 else f"{hour.alarms} door alarms"
    return f"{hour_range(hour)}: {hour.granted} granted, {hour.denied} denied, {alarms}"


def _hour_column(hour: HourCounts, x: float, column: float, top: int, plot_h: int) -> str:
    """One hour: its title, the granted bar, the denied bar on top, an alarm mark."""
    bar_w = column * 0.7
    bar_x = x + (column - bar_w) / 2
    base = TOP + plot_h
    granted_h = plot_h * hour.granted / top
    denied_h = plot_h * hour.denied / top
    parts = [
        '<g class="hour">',
        f"<title>{escape(hour_text(hour))}</title>",
        _rect("bar granted", bar_x, base - granted_h, bar_w, granted_h, GRANTED_FILL),
        _rect("bar denied", bar_x, base - granted_h - denied_h, bar_w, denied_h, DENIED_FILL),
    ]
    if hour.alarms:
        peak = base - granted_h - denied_h - 4
        centre = bar_x + bar_w / 2
        corners = ((centre - 5, peak - 9), (centre + 5, peak - 9), (centre, peak))
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in corners)
        parts.append(f'<polygon class="alarm" points="{points}" fill="{ALARM_FILL}"/>')
    parts.append("</g>")
    return "".join(parts)


def _y_axis(step: int, top: int, plot_w: int, plot_h: int) -> list[str]:
    """Grid lines and labels at each tick, and the axis title."""
    parts = []
    for value in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * value / top
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
            f'stroke="{INK}" stroke-opacity="0.25"/>'
        )
        parts.append(_text(LEFT - 6, y + 4, str(value), "end"))
    parts.append(_text(LEFT, TOP - 8, "decisions per hour", "start"))
    return parts


def _legend(timezone: str, plot_h: int) -> list[str]:
    """The series' colours and which clock the hours are on."""
    y = TOP + plot_h + 38
    return [
        _rect("key granted", LEFT, y - 9, 10, 10, GRANTED_FILL),
        _text(LEFT + 14, y, "granted", "start"),
        _rect("key denied", LEFT + 80, y - 9, 10, 10, DENIED_FILL),
        _text(LEFT + 94, y, "denied", "start"),
        f'<polygon class="key alarm-key" points="{LEFT + 156},{y - 9} {LEFT + 166},{y - 9} '
        f'{LEFT + 161},{y}" fill="{ALARM_FILL}"/>',
        _text(LEFT + 172, y, "door alarm", "start"),
        _text(WIDTH - RIGHT, y, f"hours in {timezone}", "end"),
    ]


def _rect(cls: str, x: float, y: float, w: float, h: float, fill: str) -> str:
    return (
        f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
        f'fill="{fill}"/>'
    )


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="13" '
        f'fill="currentColor">{escape(text)}</text>'
    )

"""Server-side SVG charts: the geometry of stacked daily bar charts (pure, no I/O).

A template draws the shapes computed here; every text in them is escaped by Jinja2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

WIDTH = 560
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28
MAX_X_LABELS = 6


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked layer: its name, its colour and a value per day."""

    name: str
    colour: str
    values: Mapping[date, float]


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # the tooltip: day, series and value


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """What the SVG template draws."""

    title: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_bottom: float
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    empty: bool = True


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that is at least `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0):
        if value <= step * power:
            return step * power
    return 10.0 * power


def axis(max_value: float, min_step: float = 1.0) -> list[float]:
    """Round tick values from zero up to at least `max_value`, about four steps."""
    step = max(min_step, nice_ceiling(max_value / 4)) if max_value > 0 else min_step
    count = max(1, math.ceil(max_value / step))
    return [step * index for index in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def stacked_bars(
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    *,
    value_label: Callable[[float], str] = _number,
) -> Chart:
    """A bar per day, each series stacked on the previous ones; y axis from zero."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height
    totals = [sum(layer.values.get(day, 0.0) for layer in series) for day in days]
    ticks = axis(max(totals, default=0.0))
    top_value = ticks[-1]
    slot = plot_width / max(1, len(days))
    bar_width = max(1.0, slot * 0.7)
    bars: list[Bar] = []
    for index, day in enumerate(days):
        x = LEFT + index * slot + (slot - bar_width) / 2
        stacked = 0.0
        for layer in series:
            value = layer.values.get(day, 0.0)
            if value <= 0:
                continue
            height = value / top_value * plot_height
            y = bottom - (stacked + value) / top_value * plot_height
            text = f"{day_label(day)} · {layer.name}: {value_label(value)}"
            bars.append(
                Bar(
                    round(x, 2),
                    round(y, 2),
                    round(bar_width, 2),
                    round(height, 2),
                    layer.colour,
                    text,
                )
            )
            stacked += value
    y_ticks = [
        Tick(round(bottom - value / top_value * plot_height, 2), value_label(value))
        for value in ticks
    ]
    step = max(1, math.ceil(len(days) / MAX_X_LABELS))
    x_ticks = [
        Tick(round(LEFT + index * slot + slot / 2, 2), day_label(day))
        for index, day in enumerate(days)
        if index % step == 0
    ]
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_bottom=bottom,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        legend=[(layer.name, layer.colour) for layer in series],
        empty=not any(totals),
    )


def duration(seconds: float) -> str:
    """A wait as people say it: 45 s, 3.5 min, 2.1 h."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"

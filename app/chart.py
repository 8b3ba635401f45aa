"""The letters-per-day chart, laid out on the server so the dashboard needs no JavaScript.

This module only computes geometry; `templates/staff/chart.svg.html` draws it as inline SVG.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.counts import DayCount

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 12, 36
SERIES = ("generated", "posted")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    bottom: float
    right: float
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


def nice_step(largest: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving at most `ticks` gridlines."""
    if largest <= ticks:
        return 1
    rough = largest / ticks
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def daily_chart(days: Sequence[DayCount]) -> Chart:
    """Two bars a day, generated and posted, on a scale that starts at zero."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    largest = max((max(d.generated, d.posted) for d in days), default=0)
    step = nice_step(largest)
    top_value = step * max(1, math.ceil(largest / step))
    slot = plot_width / max(len(days), 1)
    bar_width = slot * 0.4
    bars = []
    for index, day in enumerate(days):
        for offset, series in enumerate(SERIES):
            value = getattr(day, series)
            height = plot_height * value / top_value
            bars.append(
                Bar(
                    x=round(LEFT + index * slot + slot * 0.1 + offset * bar_width, 2),
                    y=round(baseline - height, 2),
                    width=round(bar_width, 2),
                    height=round(height, 2),
                    series=series,
                    title=f"{day.day.isoformat()}: {value} {series}",
                )
            )
    y_ticks = [
        Tick(round(baseline - plot_height * value / top_value, 2), f"{value:,}")
        for value in range(0, top_value + 1, step)
    ]
    every = max(1, math.ceil(len(days) / 8))
    x_ticks = [
        Tick(round(LEFT + index * slot + slot / 2, 2), day.day.strftime("%d %b"))
        for index, day in enumerate(days)
        if index % every == 0
    ]
    return Chart(WIDTH, HEIGHT, LEFT, baseline, WIDTH - RIGHT, bars, y_ticks, x_ticks)

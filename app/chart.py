"""The letters-per-day chart, laid out on the server so the dashboard needs no JavaScript.

This module only computes geometry; `templates/staff/chart.svg.html` draws it as inline SVG.
It stays readable from one day of letters to years of them: a day's bars never grow wider than
MAX_SLOT, and a range longer than WEEKLY_AFTER days draws one pair of bars per week.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from app.storage.counts import DayCount

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 20, 36
SERIES = ("generated", "posted")
MAX_SLOT = 56
WEEKLY_AFTER = 92


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
    period: str  # what one pair of bars counts: "day" or "week"


def nice_step(largest: int, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving at most `ticks` gridlines."""
    if largest <= ticks:
        return 1
    rough = largest / ticks
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def by_week(days: Sequence[DayCount]) -> list[DayCount]:
    """The days summed per week, each week known by its Monday."""
    weeks: dict[date, tuple[int, int, int]] = {}
    for day in days:
        monday = day.day - timedelta(days=day.day.weekday())
        generated, posted, paper = weeks.get(monday, (0, 0, 0))
        weeks[monday] = (generated + day.generated, posted + day.posted, paper + day.paper)
    return [DayCount(monday, *sums) for monday, sums in weeks.items()]


def daily_chart(days: Sequence[DayCount]) -> Chart:
    """Two bars a day (or a week, over a long range), generated and posted, on a scale that
    starts at zero."""
    period = "week" if len(days) > WEEKLY_AFTER else "day"
    buckets = by_week(days) if period == "week" else list(days)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    largest = max((max(d.generated, d.posted) for d in buckets), default=0)
    step = nice_step(largest)
    top_value = step * max(1, math.ceil(largest / step))
    slot = min(plot_width / max(len(buckets), 1), MAX_SLOT)
    bar_width = slot * 0.4
    bars = []
    for index, bucket in enumerate(buckets):
        when = bucket.day.isoformat() if period == "day" else f"week of {bucket.day.isoformat()}"
        for offset, series in enumerate(SERIES):
            value = getattr(bucket, series)
            height = plot_height * value / top_value
            bars.append(
                Bar(
                    x=round(LEFT + index * slot + slot * 0.1 + offset * bar_width, 2),
                    y=round(baseline - height, 2),
                    width=round(bar_width, 2),
                    height=round(height, 2),
                    series=series,
                    title=f"{when}: {value} {series}",
                )
            )
    y_ticks = [
        Tick(round(baseline - plot_height * value / top_value, 2), f"{value:,}")
        for value in range(0, top_value + 1, step)
    ]
    labels, most = ("%d %b", 8) if period == "day" else ("%d %b %Y", 6)
    every = max(1, math.ceil(len(buckets) / most))
    x_ticks = [
        Tick(round(LEFT + index * slot + slot / 2, 2), bucket.day.strftime(labels))
        for index, bucket in enumerate(buckets)
        if index % every == 0
    ]
    return Chart(WIDTH, HEIGHT, LEFT, baseline, WIDTH - RIGHT, bars, y_ticks, x_ticks, period)

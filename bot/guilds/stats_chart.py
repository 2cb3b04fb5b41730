"""The chart beside ``/likeness stats``' numbers: jobs per day, stacked by how they ended, as a PNG.
matplotlib's Agg backend draws it without a display, through its object API (no global pyplot
state, so two servers asking at once cannot draw on each other's figure)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from storage.stats import DayCount

_COLOURS = {"done": "#43a047", "failed": "#e53935", "cancelled": "#9e9e9e", "waiting": "#1e88e5"}


def every_day(counts: list[DayCount], days: int, now: float) -> list[DayCount]:
    """One entry per UTC day of the window, the days without jobs as zeros, so gaps show."""
    by_day = {c.day: c for c in counts}
    today = datetime.fromtimestamp(now, UTC).date()
    window = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return [by_day.get(d.isoformat(), DayCount(d.isoformat(), 0, 0, 0, 0)) for d in window]


def stats_chart(counts: list[DayCount], title: str) -> bytes:
    """A PNG bar chart, 800×360 px: one bar a day, stacked done, failed, cancelled and not finished."""
    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = [date.fromisoformat(c.day).strftime("%b %d") for c in counts]
    waiting = [c.total - c.done - c.failed - c.cancelled for c in counts]
    bottom = [0] * len(counts)
    for name, values in (
        ("done", [c.done for c in counts]),
        ("failed", [c.failed for c in counts]),
        ("cancelled", [c.cancelled for c in counts]),
        ("waiting", waiting),
    ):
        if any(values):
            axes.bar(labels, values, bottom=bottom, label=name, color=_COLOURS[name])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_title(title)
    axes.set_ylabel("jobs")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if len(labels) > 10:
        axes.tick_params(axis="x", labelrotation=60, labelsize=7)
    if any(bottom):
        axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

"""The usage page's bar chart, drawn on the server as SVG: one bar per day, stacked per person."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 240
LEFT, BOTTOM, TOP = 48, 28, 16
MAX_BAR = 56
COLOURS = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777")


@dataclass
class Segment:
    user: str
    seconds: float
    y: float
    height: float
    colour: str


@dataclass
class Bar:
    day: str
    total: float
    x: float
    width: float
    top: float
    segments: list[Segment] = field(default_factory=list)

    @property
    def label_y(self) -> float:
        return self.top - 3


@dataclass
class Chart:
    bars: list[Bar]
    people: list[tuple[str, str]]  # (user, colour), the legend
    peak: float
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: float = HEIGHT - BOTTOM
    top: int = TOP


def build(per_day: dict[str, dict[str, float]]) -> Chart:
    """``per_day``: {day: {user: seconds}} (``usage.per_day_by_user``), days in order."""
    people = sorted({user for users in per_day.values() for user in users})
    colour = {user: COLOURS[i % len(COLOURS)] for i, user in enumerate(people)}
    peak = max((sum(users.values()) for users in per_day.values()), default=0.0)
    scale = (HEIGHT - BOTTOM - TOP) / peak if peak > 0 else 0.0
    slot = (WIDTH - LEFT - 8) / max(1, len(per_day))
    bars = []
    for n, (day, users) in enumerate(sorted(per_day.items())):
        width = min(slot * 0.7, MAX_BAR)
        x = LEFT + n * slot + (slot - width) / 2
        y = HEIGHT - BOTTOM
        bar = Bar(day, sum(users.values()), x, width, 0.0)
        for user in people:
            seconds = users.get(user, 0.0)
            if seconds <= 0:
                continue
            height = seconds * scale
            y -= height
            bar.segments.append(Segment(user, seconds, y, height, colour[user]))
        bar.top = y
        bars.append(bar)
    return Chart(bars, [(user, colour[user]) for user in people], peak)

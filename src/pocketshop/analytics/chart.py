"""The dashboard's chart, drawn on the server as SVG: one bar a day, a phone's width, three
gridlines with their values, a few dates below. Each day is a tappable column whose `<title>`
(and `data-tip`, which analytics.js shows under the chart on a tap) says that day's figures.
No library, no script needed to read it, nothing loaded from elsewhere."""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pocketshop.analytics.service import Day, Figures
from pocketshop.i18n import _, get_locale
from pocketshop.money import format_fen

WIDTH = 340
HEIGHT = 168
LEFT = 40  # room for the values of the gridlines
TOP = 8
PLOT_HEIGHT = 128
BASELINE = TOP + PLOT_HEIGHT


class Metric(StrEnum):
    turnover = "turnover"
    orders = "orders"
    visitors = "visitors"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    slot_x: float  # the whole column, what a tap hits
    slot_width: float
    tip: str
    today: bool


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str
    anchor: str  # SVG text-anchor: the first and last dates keep inside the chart


@dataclass(frozen=True)
class Chart:
    metric: Metric
    width: int
    height: int
    left: int
    baseline: int
    bars: list[Bar]
    gridlines: list[Gridline]
    labels: list[Label]
    empty: bool


def value_of(figures: Figures, metric: Metric) -> int:
    return int(getattr(figures, metric.value))


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at least `value` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def compact(value: Decimal, metric: Metric) -> str:
    """A gridline's value in a few characters: ¥1.2万 (¥12k in English) for money (`value`
    in fen), 1.2万 (12k) for counts; halves kept (2.5)."""
    amount = value / 100 if metric is Metric.turnover else value
    prefix = "¥" if metric is Metric.turnover else ""
    big, unit = (Decimal(10_000), "万") if get_locale() == "zh_CN" else (Decimal(1_000), "k")
    if amount >= big:
        amount, suffix = amount / big, unit
    else:
        suffix = ""
    shown = amount.quantize(Decimal("0.1") if amount < 10 else Decimal("1"))
    return f"{prefix}{shown.normalize():f}{suffix}"


def tip(day: Day) -> str:
    figures = day.figures
    return _(
        "%(day)s · turnover %(turnover)s · paid orders %(orders)s · visitors %(visitors)s",
        day=day.day.strftime("%m-%d"),
        turnover=format_fen(figures.turnover),
        orders=figures.orders,
        visitors=figures.visitors,
    )


def draw(days: list[Day], metric: Metric) -> Chart:
    values = [value_of(day.figures, metric) for day in days]
    top = nice_ceiling(max(values, default=0))
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bar_width = max(slot * 0.68, 1.0)
    bars = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        height = PLOT_HEIGHT * value / top
        if value and height < 1.5:
            height = 1.5  # a day with something shows something
        slot_x = LEFT + index * slot
        bars.append(
            Bar(
                x=round(slot_x + (slot - bar_width) / 2, 2),
                y=round(BASELINE - height, 2),
                width=round(bar_width, 2),
                height=round(height, 2),
                slot_x=round(slot_x, 2),
                slot_width=round(slot, 2),
                tip=tip(day),
                today=index == len(days) - 1,
            )
        )
    gridlines = [
        Gridline(
            round(BASELINE - PLOT_HEIGHT * half / 2, 2), compact(Decimal(top * half) / 2, metric)
        )
        for half in (0, 1, 2)
    ]
    # The first day, the middle one and today, under their bars (the ends from their edge).
    last, middle = len(days) - 1, (len(days) - 1) // 2
    marks = [(0, 0.0, "start"), (middle, slot / 2, "middle"), (last, slot, "end")]
    if len(days) == 1:
        marks = [(0, slot / 2, "middle")]
    labels = [
        Label(round(LEFT + index * slot + offset, 2), days[index].day.strftime("%m-%d"), anchor)
        for index, offset, anchor in marks
        if days and (anchor != "middle" or len(days) == 1 or 0 < index < last)
    ]
    return Chart(
        metric=metric,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        baseline=BASELINE,
        bars=bars,
        gridlines=gridlines,
        labels=labels,
        empty=not any(values),
    )

"""What the console's home shows of the shop's figures (its template: shops/_dashboard.html):
the dashboard read from the rollups, its chart for the metric chosen, and the helpers the
template formats them with."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.analytics import chart, service
from pocketshop.analytics.labels import percent, source_label
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen
from pocketshop.shops.models import Shop

METRICS = {
    chart.Metric.turnover: N_("Turnover"),
    chart.Metric.orders: N_("Paid orders"),
    chart.Metric.visitors: N_("Visitors"),
}


def share(part: int, whole: int) -> float:
    """`part` of `whole` as a fraction from 0 to 1 (a bar's length)."""
    return round(part / whole, 4) if whole > 0 else 0.0


async def context(session: AsyncSession, shop: Shop, metric: str) -> dict[str, Any]:
    chosen = chart.Metric(metric) if metric in chart.Metric.__members__ else chart.Metric.turnover
    found = await service.dashboard(session, shop, days=service.DEFAULT_DAYS)
    best = max((row.figures.turnover for row in found.sources), default=0)
    return {
        "dashboard": found,
        "chart": chart.draw(found.days, chosen),
        "metrics": {key: _(label) for key, label in METRICS.items()},
        "source_label": source_label,
        "percent": percent,
        "share": share,
        "best_source": best,
        "fen": format_fen,
    }

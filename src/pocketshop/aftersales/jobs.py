"""After-sales timers: a silent shop agrees (or refunds a return it did not confirm), a
silent buyer's case closes (aftersales.service.act_on_time)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.aftersales import service
from pocketshop.aftersales.models import AftersalesCase
from pocketshop.config import Settings
from pocketshop.jobs import Sweep, due_ids


async def due(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
    # A timed case has its due time set; a final or escalated one has none.
    return await due_ids(
        session,
        AftersalesCase.id,
        AftersalesCase.due_at <= now,
        order_by=AftersalesCase.due_at,
        limit=limit,
    )


def sweeps(settings: Settings) -> list[Sweep]:
    async def act(session: AsyncSession, case_id: int) -> bool:
        return await service.act_on_time(session, settings, case_id)

    return [Sweep("aftersales_timers", due, act)]

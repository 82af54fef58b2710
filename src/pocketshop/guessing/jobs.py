"""Counts of ended windows are dropped: only the current window is ever read."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.config import Settings
from pocketshop.guessing import service
from pocketshop.jobs import Sweep


def sweeps(settings: Settings) -> list[Sweep]:
    async def due(session: AsyncSession, now: datetime, limit: int) -> Sequence[int]:
        return await service.ended_windows(session, settings, now, limit)

    return [Sweep("forget_lookup_misses", due, service.forget)]

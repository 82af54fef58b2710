"""The rollup job: every round of the timed work (at most every ROLLUP_SECONDS), the shop
days whose views changed or that had orders paid are recomputed (analytics.rollup.refresh).
Safe with several workers: each shop's rollup runs alone (a lock per shop), and a day
recomputed twice is the same day."""

import logging
from datetime import datetime, timedelta

from pocketshop import clock
from pocketshop.analytics import rollup
from pocketshop.db import Database

log = logging.getLogger(__name__)

ROLLUP_SECONDS = 30


class Rollups:
    """A periodic job (runtime.periodic): call it every round; it works every `every`."""

    def __init__(self, database: Database, every: timedelta = timedelta(seconds=ROLLUP_SECONDS)):
        self.database = database
        self.every = every
        self.last: datetime | None = None

    async def __call__(self) -> None:
        now = clock.now()
        if self.last is not None and now - self.last < self.every:
            return
        self.last = now
        try:
            done = await rollup.refresh(self.database)
        except Exception:
            # The database away, say: the next round tries again; other periodic work goes on.
            log.exception("analytics: rollup round failed")
            return
        if done:
            log.info("analytics: %s shop days rolled up", done)

"""What a server or a worker runs with, made in one place: the database (with its caches),
the SMS sender, the payments, the outbox handlers, the timed sweeps and the other periodic
work."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from pocketshop import cache, clock, jobs, media, outbox
from pocketshop.accounts import service as accounts_service
from pocketshop.accounts.sms import SmsSender, make_sender
from pocketshop.accounts.wechat import WeChatSignIn, sign_in_with
from pocketshop.aftersales import jobs as aftersales_jobs
from pocketshop.aftersales import queries as aftersales
from pocketshop.analytics.jobs import Rollups
from pocketshop.catalog import service as catalog
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.guessing import jobs as guessing_jobs
from pocketshop.notifications import setup as notifications_setup
from pocketshop.notifications.delivery import Senders
from pocketshop.orders import jobs as order_jobs
from pocketshop.payments import jobs as payment_jobs
from pocketshop.payments import sandbox
from pocketshop.payments import setup as payments_setup
from pocketshop.payments.setup import Payments
from pocketshop.sharing import posters
from pocketshop.shops import service as shops

POSTER_PRUNING = timedelta(hours=1)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    sms: SmsSender
    payments: Payments
    # Calls to other services (the sandbox provider's notifications to our callback).
    http: httpx.AsyncClient
    handlers: dict[str, outbox.Handler] = field(default_factory=dict)
    # How notifications leave (SMS, WeChat); set by `build`.
    senders: Senders | None = None
    _draining: asyncio.Lock = field(default_factory=asyncio.Lock)
    _drain_again: bool = False
    _posters_pruned_at: datetime | None = None
    sweeps: list[jobs.AnySweep] = field(default_factory=list)
    # Signing buyers in inside WeChat, when an Official Account is configured.
    wechat: WeChatSignIn | None = None
    # The analytics rollups, brought up to date every so often.
    rollups: Rollups | None = None

    async def drain_outbox(self) -> None:
        """Deliver what is due, until nothing is: one drain at a time in this process, so the
        requests that each queued a message (a paid order's notification) do not all race to
        claim the same rows. A call while a drain runs (from a request, or from a handler's
        own call back into this app) only asks it to go round again, and returns at once:
        waiting for it could wait for itself."""
        self._drain_again = True
        if self._draining.locked():
            return
        async with self._draining:
            while self._drain_again:
                self._drain_again = False
                while await outbox.drain(self.db, self.handlers):
                    pass

    async def deliver_sandbox_notices(self) -> None:
        await sandbox.deliver_due(self.db, self.settings, self.http)

    async def tidy_media(self) -> None:
        """Files a crash left as parts (media.py): kept if a committed row names them,
        removed otherwise; and, once an hour, posters past their time."""
        now = clock.now()
        if self._posters_pruned_at is None or now - self._posters_pruned_at >= POSTER_PRUNING:
            self._posters_pruned_at = now
            await asyncio.to_thread(posters.prune, self.settings, now)
        left = media.left_behind(self.settings)
        if not left:
            return
        async with self.db.transaction(write=False) as session:
            named = (
                await catalog.named_files(session, left)
                | await shops.named_files(session, left)
                | await aftersales.named_files(session, left)
            )
        media.keep(self.settings, named)
        media.discard(self.settings, [key for key in left if key not in named])

    def periodic(self, *, with_outbox: bool) -> list[Callable[[], Awaitable[object]]]:
        """Work done each round besides the sweeps: the sandbox provider's notifications, the
        files a crash left behind, the analytics rollups, and the outbox for a separate worker
        (a server sweeps its own)."""
        work: list[Callable[[], Awaitable[object]]] = [self.drain_outbox] if with_outbox else []
        work.append(self.tidy_media)
        if "sandbox" in self.payments.providers:
            work.append(self.deliver_sandbox_notices)
        if self.rollups is not None:
            work.append(self.rollups)
        return work

    async def close(self) -> None:
        await self.http.aclose()
        if self.wechat is not None:
            await self.wechat.http.aclose()
        await self.db.dispose()


def build(settings: Settings, *, caching: bool = True) -> Runtime:
    db = Database(settings.database_url)
    if caching:
        # On SQLite a separate `pocketshop worker` changes rows behind this process's back,
        # so nothing is cached unless the timed work runs in here.
        on = not db.is_sqlite or settings.embedded_worker
        db.page_cache = cache.TaggedCache(
            max_entries=settings.page_cache_entries, enabled=on and settings.page_cache_entries > 0
        )
        db.row_cache = cache.TaggedCache(
            max_entries=settings.row_cache_entries, enabled=on and settings.row_cache_entries > 0
        )
    sms = make_sender(settings.sms_backend)
    payments = payments_setup.install(db, settings)
    runtime = Runtime(
        settings=settings,
        db=db,
        sms=sms,
        payments=payments,
        http=httpx.AsyncClient(timeout=10.0),
        sweeps=[
            *order_jobs.sweeps(settings),
            *aftersales_jobs.sweeps(settings),
            *payment_jobs.sweeps(payments),
            *guessing_jobs.sweeps(settings),
        ],
        rollups=Rollups(db),
    )

    if settings.wechat_sign_in:
        runtime.wechat = sign_in_with(
            settings.wechat_mp_app_id,
            settings.wechat_mp_app_secret,
            httpx.AsyncClient(timeout=10.0),
            settings.wechat_api_gateway,
        )

    async def send_sms(payload: dict[str, object]) -> None:
        await sms.send(str(payload["phone"]), str(payload["text"]))

    runtime.senders = notifications_setup.senders(settings, sms, runtime.http)
    runtime.handlers = {
        accounts_service.SMS_TOPIC: send_sms,
        **payments_setup.outbox_handlers(db, payments),
        **notifications_setup.outbox_handlers(db, settings, runtime.senders),
    }
    return runtime

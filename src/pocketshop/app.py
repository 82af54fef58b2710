"""create_app(): mounts every domain's routers, static and media files, middleware, errors."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pocketshop import __version__, cache, jobs
from pocketshop.accounts import api as accounts_api
from pocketshop.accounts import pages as accounts_pages
from pocketshop.accounts import wechat_pages
from pocketshop.accounts.deps import SESSION_COOKIE
from pocketshop.aftersales import admin_pages as aftersales_admin
from pocketshop.aftersales import api as aftersales_api
from pocketshop.aftersales import console_pages as aftersales_console
from pocketshop.aftersales import pages as aftersales_pages
from pocketshop.analytics import api as analytics_api
from pocketshop.analytics import console_pages as analytics_console
from pocketshop.analytics.views import PageViews, RecordPageViews
from pocketshop.attribution import api as attribution_api
from pocketshop.attribution import console_pages as attribution_console
from pocketshop.attribution import pages as attribution_pages
from pocketshop.catalog import api as catalog_api
from pocketshop.catalog import console_groups as catalog_groups
from pocketshop.catalog import console_pages as catalog_console
from pocketshop.catalog import pages as catalog_pages
from pocketshop.config import Environment, Settings
from pocketshop.customers import api as customers_api
from pocketshop.customers import console_pages as customers_console
from pocketshop.i18n import LocaleMiddleware
from pocketshop.notifications import api as notifications_api
from pocketshop.notifications import pages as notifications_pages
from pocketshop.orders import address_pages
from pocketshop.orders import api as orders_api
from pocketshop.orders import console_pages as orders_console
from pocketshop.orders import pages as orders_pages
from pocketshop.payments import api as payments_api
from pocketshop.payments import console_pages as payments_console
from pocketshop.payments import pages as payments_pages
from pocketshop.payments import request_pages as payment_request_pages
from pocketshop.payments import sandbox_pages
from pocketshop.regions import api as regions_api
from pocketshop.runtime import build
from pocketshop.sharing import pages as sharing_pages
from pocketshop.shops import admin_pages as shops_admin
from pocketshop.shops import api as shops_api
from pocketshop.shops import pages as shops_pages
from pocketshop.web import contract, docs, errors, headers, page_cache
from pocketshop.web import pages as web_pages
from pocketshop.web.templating import PACKAGE_DIR, environment

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Templates are the installed package's files: only a developer edits them while it runs
    # (otherwise each page would look at every template file it uses again).
    environment.auto_reload = settings.env is Environment.development
    settings.secrets  # noqa: B018 -- fail at start-up, not on the first request, if keys are missing
    runtime = build(settings)
    db = runtime.db
    caches = [tagged for tagged in (db.page_cache, db.row_cache) if tagged is not None]
    listener = None if db.is_sqlite else cache.NotifyListener(caches, settings.database_url)
    page_views = PageViews(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = [
            asyncio.create_task(_sweep_outbox(runtime.drain_outbox, settings)),
            asyncio.create_task(page_views.run(db)),  # flushes what is left when cancelled
        ]
        if settings.embedded_worker:
            also = runtime.periodic(with_outbox=False)  # the outbox has its own loop here
            background.append(
                asyncio.create_task(
                    jobs.run_forever(db, settings.jobs_interval_seconds, runtime.sweeps, also=also)
                )
            )
        if listener is not None:
            listener.start()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if listener is not None:
                await listener.stop()
            await runtime.close()

    app = FastAPI(
        title="Pocketshop",
        version=__version__,
        description="Open API of Pocketshop. Authenticate with `Authorization: Bearer <token>` "
        "from `POST /api/v1/auth/tokens`.",
        lifespan=lifespan,
        docs_url=None,  # web.docs serves them from a package's files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.db = db
    app.state.sms = runtime.sms
    app.state.payments = runtime.payments
    app.state.dispatch_outbox = runtime.drain_outbox
    app.state.page_views = page_views

    errors.install(app)
    # Added first, so it runs inside LocaleMiddleware and knows the visitor's language.
    app.add_middleware(page_cache.CachedPages, login_cookie=SESSION_COOKIE)
    # Outside the page cache: a page it answers is a page seen.
    app.add_middleware(RecordPageViews)
    # Outside the page cache: inside WeChat, a guest is signed in before any page is served.
    app.add_middleware(wechat_pages.SilentSignIn, settings=settings)
    app.add_middleware(LocaleMiddleware, default=settings.default_locale)
    # Added last: the outermost, so cached pages get the security headers too.
    app.add_middleware(headers.SecurityHeaders, settings=settings)

    settings.media_path.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "web" / "static"), name="static")
    app.mount("/media", StaticFiles(directory=settings.media_path), name="media")
    docs.install(app)
    # Routes are matched in order, router by router, each tried in about 1.5 µs: the busiest
    # first. The storefront's shop and product pages (two routes): what a shared link opens,
    # routed whenever the page cache does not hold it. Then the API, every call of which is
    # routed: the catalog that apps browse, the merchants' catalog, payment notifications (one
    # route), order creation.
    for router in (
        catalog_pages.router,
        catalog_api.browse,
        catalog_api.router,
        payments_api.callbacks,
        orders_api.router,
        payments_api.outside,  # paying for an order: the busiest route after placing it
        payments_api.router,
        catalog_api.outside,
        accounts_api.router,
        accounts_api.outside,
        shops_api.router,
        shops_api.outside,
        sharing_pages.router,
        web_pages.router,
        accounts_pages.router,
        wechat_pages.router,
        wechat_pages.outside,
        shops_pages.router,
        shops_pages.outside,
        orders_pages.router,
        address_pages.router,
        payments_pages.router,
        payments_pages.outside,
        payments_console.router,
        payment_request_pages.router,
        payment_request_pages.outside,
        sandbox_pages.router,
        catalog_console.router,
        catalog_console.outside,
        catalog_groups.router,
        orders_console.router,
        aftersales_api.router,
        aftersales_api.outside,
        aftersales_pages.router,
        aftersales_pages.outside,
        aftersales_console.router,
        aftersales_admin.router,
        shops_admin.router,
        notifications_api.router,
        notifications_pages.router,
        regions_api.router,
        attribution_api.router,
        attribution_pages.router,
        attribution_console.router,
        customers_api.router,
        customers_console.router,
        analytics_api.router,
        analytics_console.router,
    ):
        app.include_router(router)
    contract.state_deployment_rules(app, payments_api.deployment_rules(runtime.payments))
    return app


async def _sweep_outbox(dispatch: Callable[[], Awaitable[None]], settings: Settings) -> None:
    """Delivers what a crash or a failed send left behind (the request path delivers the rest)."""
    while True:
        try:
            await dispatch()
        except Exception:
            log.exception("outbox sweep failed")
        await asyncio.sleep(settings.outbox_sweep_seconds)

"""The request transaction boundary, shared dependencies, and the API/page router factories."""

import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask, BackgroundTasks

from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.errors import AppError, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.web.security import require_csrf

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TransactionalRoute(APIRoute):
    """Every route runs in one transaction, committed before the response leaves.

    Work queued in the outbox during the request is handed to the dispatcher after commit.
    """

    # Page routes check CSRF here, before the handler: as a router dependency the check cost
    # a sizeable share of a cached page's time, even on GET where it does nothing.
    checks_csrf = False
    # Routes that only read (the storefront's) run in Database.reading: no BEGIN and COMMIT.
    reads_only = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.reads_only and not (self.methods or set()) <= SAFE_METHODS:
            raise TypeError(f"{self.path} changes things: not a route that only reads")

        async def run_in_transaction(request: Request) -> Response:
            db: Database = request.app.state.db
            refuse_nul_address(request)
            # The body is read before the transaction (and SQLite's write lock) starts, so a
            # slow or huge upload holds up nobody but its sender.
            await read_body(request, request.app.state.settings.max_request_bytes)
            if self.checks_csrf:
                await require_csrf(request)
            if db.page_cache is not None:
                # Before the transaction's first read: a page rendered from it may be cached
                # only if nothing it shows was invalidated after this point.
                request.state.cache_snapshot = db.page_cache.snapshot()
            writes = request.method not in SAFE_METHODS
            boundary = db.reading() if self.reads_only else db.transaction(write=writes)
            async with boundary as session:
                request.state.session = session
                response = await handler(request)
                queued_outbox = bool(session.info.get("outbox_queued"))
            if queued_outbox:
                run_after(response, request.app.state.dispatch_outbox)
            return response

        return run_in_transaction


class OutsideRoute(APIRoute):
    """A route whose handler opens its transactions itself (`unit`), for work that must not
    happen inside one: a call to a payment provider (write the intent, commit, call, record
    the outcome in a new transaction), or decoding uploaded photos before the transaction
    that keeps them. Like every route it reads and caps the body first and, on pages, checks
    CSRF; the handler finds who is asking inside its first unit (accounts.deps, `*_in`).
    Work queued in the outbox by any of its units is handed to the dispatcher after the
    answer."""

    checks_csrf = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_outside(request: Request) -> Response:
            refuse_nul_address(request)
            await read_body(request, request.app.state.settings.max_request_bytes)
            if self.checks_csrf:
                await require_csrf(request)
            request.state.outbox_queued = False
            response = await handler(request)
            if request.state.outbox_queued:
                run_after(response, request.app.state.dispatch_outbox)
            return response

        return run_outside


class OutsidePageRoute(OutsideRoute):
    checks_csrf = True


@asynccontextmanager
async def unit(request: Request, *, write: bool = True) -> AsyncIterator[AsyncSession]:
    """One transaction of an OutsideRoute's handler: committed when the block ends, rolled
    back when it raises. It starts with the checks the route's dependencies left for each
    of its transactions (`request.state.unit_checks`: the limit on lookups by number)."""
    db: Database = request.app.state.db
    async with db.transaction(write=write) as session:
        request.state.session = session
        for check in getattr(request.state, "unit_checks", ()):
            await check(session)
        yield session
        if session.info.get("outbox_queued"):
            request.state.outbox_queued = True


def outside_router(**kwargs: Any) -> APIRouter:
    """JSON routes that open their own transactions (see OutsideRoute)."""
    return APIRouter(route_class=OutsideRoute, responses=ERROR_RESPONSES, **kwargs)


def outside_page_router(**kwargs: Any) -> APIRouter:
    """HTML routes that open their own transactions (see OutsideRoute); CSRF-checked."""
    return APIRouter(route_class=OutsidePageRoute, include_in_schema=False, **kwargs)


def refuse_nul_address(request: Request) -> None:
    """No address has a NUL in it (%00): not found, before an id carrying one reaches
    PostgreSQL, which refuses NUL in text (a 500)."""
    if "\x00" in request.url.path:
        raise NotFound(_("Page not found."))


async def read_body(request: Request, limit: int) -> None:
    """Read and cache the request body, refusing more than `limit` bytes (413)."""
    headers = request.headers
    if "content-length" not in headers and "transfer-encoding" not in headers:
        request._body = b""  # no body (a GET, usually): nothing to wait for
        return
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    # Starlette serves request.body(), .form() and .json() from this cache.
    request._body = bytes(body)


def _too_large(limit: int) -> AppError:
    return AppError(
        _("The upload is too large: at most %(mb)s MB.", mb=max(limit // 2**20, 1)),
        code="too_large",
        status_code=413,
    )


# 1 to 64 printable ASCII characters, no space at either end (HTTP drops those anyway).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~](?:[ -~]{0,62}[!-~])?$"


async def _idempotency_key(
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Retry-safe: the same key and body give the same result "
            "(the same order, refund or withdrawal). 1 to 64 printable ASCII characters.",
            json_schema_extra={"pattern": IDEMPOTENCY_KEY_PATTERN},
        ),
    ] = None,
) -> str | None:
    # Checked here rather than by the schema's validation, for a message that says what to send.
    if idempotency_key is not None and not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, idempotency_key):
        raise InvalidInput(
            _("Idempotency-Key must be 1 to 64 printable ASCII characters."),
            code="invalid_idempotency_key",
        )
    return idempotency_key


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


def client_address(request: Request) -> str:
    """The client's own address, whole (IPv6 too): what a payment provider is told the
    buyer's is (WeChat Pay H5's payer_client_ip)."""
    return request.client.host if request.client else ""


def client_ip(request: Request) -> str:
    """The client's address for counting (rate limits); IPv6 by its /64, the block one
    subscriber usually holds."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return host


def public_base_url(request: Request) -> str:
    """Base of links and QR codes: the configured public URL, else this request's host."""
    settings: Settings = request.app.state.settings
    return settings.public_base_url or str(request.base_url)


def run_after(response: Response, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `task` once the answer has gone (after the request's commit). A failure is logged:
    the answer cannot change any more, and what the task does is also swept up later (the
    outbox, a kept notice)."""

    async def logged() -> None:
        try:
            await task()
        except Exception:
            log.exception("work after the answer to %s failed; its sweep takes it up", task)

    if response.background is None:
        response.background = BackgroundTask(logged)
    else:
        tasks = BackgroundTasks([response.background])
        tasks.add_task(logged)
        response.background = tasks


class ErrorBody(BaseModel):
    code: str = Field(examples=["wrong_code"])
    message: str = Field(description="translated for the request's language")
    field: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in {
        400: "the body could not be read (not UTF-8, or not the declared type)",
        401: "not logged in",
        403: "a merchant's route asked by someone without a shop (`not_a_merchant`)",
        404: "not found, or not yours",
        409: "not allowed in the current state",
        413: "request body too large",
        422: "invalid input",
        429: "too many requests; see Retry-After",
        502: "a payment provider did not answer; try again",
        503: "the database is briefly unavailable; try again after Retry-After seconds "
        "(with the same Idempotency-Key, where the operation takes one)",
    }.items()
}


class ReadingRoute(TransactionalRoute):
    reads_only = True


def api_router(*, reads_only: bool = False, **kwargs: Any) -> APIRouter:
    """JSON routes; with `reads_only`, routes that only read (see Database.reading)."""
    route_class = ReadingRoute if reads_only else TransactionalRoute
    return APIRouter(route_class=route_class, responses=ERROR_RESPONSES, **kwargs)


class PageRoute(TransactionalRoute):
    checks_csrf = True


class ReadingPageRoute(PageRoute):
    reads_only = True


def page_router(*, reads_only: bool = False, **kwargs: Any) -> APIRouter:
    """HTML routes: hidden from the OpenAPI schema, CSRF-checked on every unsafe method; with
    `reads_only`, routes that only read (see Database.reading)."""
    route_class = ReadingPageRoute if reads_only else PageRoute
    return APIRouter(route_class=route_class, include_in_schema=False, **kwargs)


# `async def`, though they never wait: FastAPI runs a plain `def` dependency in a thread pool,
# a hand-off that costs more than the whole lookup, on every request.
async def get_session(request: Request) -> AsyncSession:
    session: AsyncSession = request.state.session
    return session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _settings_dependency(request: Request) -> Settings:
    return get_settings(request)


Session = Annotated[AsyncSession, Depends(get_session)]
AppSettings = Annotated[Settings, Depends(_settings_dependency)]

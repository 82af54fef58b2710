"""Serving storefront pages from the rendered-page cache (see pocketshop.cache).

A cached page is the same for every visitor with the same locale and login (logged in, the
same unread count and shop or none too): the one per-visitor part, the CSRF token in its
forms, is rendered as a placeholder and filled in for each answer.

Most visitors come from a chat link and are not logged in. `CachedPages` answers them from
the cache before routing: no route matching, dependencies or database session, which are
most of a cached page's cost. It serves only what a route stored through `serve` for the
same path, query and locale and a visitor without a login cookie, so it answers exactly what
the route would.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pocketshop import i18n
from pocketshop.cache import TaggedCache
from pocketshop.web.security import csrf_token, set_pending_cookies

CSRF_PLACEHOLDER = "__csrf_token_placeholder__"
_PLACEHOLDER_BYTES = CSRF_PLACEHOLDER.encode()

# A render returns its page (made with `csrf=CSRF_PLACEHOLDER`) and the cache tags of what
# it shows; UNCACHED among them when the page may change with no event to say so (a special
# price that runs out at a given time).
UNCACHED = "uncached"
Renderer = Callable[[], Awaitable[tuple[HTMLResponse, Sequence[str]]]]


def _cache(request: Request) -> TaggedCache | None:
    cache: TaggedCache | None = request.app.state.db.page_cache
    return cache


def _answer(request: Request, body: bytes, status_code: int = 200) -> Response:
    filled = body.replace(_PLACEHOLDER_BYTES, csrf_token(request).encode())
    response = HTMLResponse(filled, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    set_pending_cookies(request, response)
    return response


def _anonymous_key(scope: Scope, locale: str) -> tuple[Any, ...]:
    """What `CachedPages` looks a page up by: everything a logged-out visitor's page
    depends on."""
    return ("anonymous", scope["path"], scope["query_string"], locale)


async def serve(request: Request, key: tuple[Any, ...], render: Renderer) -> Response:
    """The cached page for `key` (plus URL, locale and visitor), or a fresh render."""
    cache = _cache(request)
    user = getattr(request.state, "user", None)
    locale = i18n.get_locale()
    # A logged-in visitor's top bar shows their unread count and whether they own a shop,
    # which change with no event of the page's: they are part of the key.
    visitor = (
        (user.id, getattr(request.state, "unread", 0), getattr(request.state, "owns_shop", False))
        if user is not None
        else None
    )
    full_key = (request.url.path, request.url.query, locale, visitor, *key)
    if cache is not None:
        body = cache.get_page(full_key)
        if body is not None:
            if user is None:
                cache.alias(_anonymous_key(request.scope, locale), full_key)
            return _answer(request, body)
    snapshot = getattr(request.state, "cache_snapshot", None)
    response, tags = await render()
    if response.status_code != 200:
        return _answer(request, bytes(response.body), response.status_code)
    if (
        cache is not None
        and snapshot is not None
        and UNCACHED not in tags
        and cache.put(full_key, bytes(response.body), tags, snapshot)
        and user is None
    ):
        cache.alias(_anonymous_key(request.scope, locale), full_key)
    return _answer(request, bytes(response.body))


class CachedPages:
    """ASGI middleware answering logged-out GET and HEAD requests from the page cache.

    Install it inside `LocaleMiddleware` (add it first), which chooses the locale; a request
    carrying `login_cookie` goes to its route, which knows who is logged in.
    """

    def __init__(self, app: ASGIApp, *, login_cookie: str) -> None:
        self.app = app
        self.login_cookie = login_cookie.encode() + b"="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            body = self._cached(scope)
            if body is not None:
                request = Request(scope, receive)
                await _answer(request, body)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _cached(self, scope: Scope) -> bytes | None:
        locale = scope.get("state", {}).get("locale")
        cache: TaggedCache | None = scope["app"].state.db.page_cache
        if locale is None or cache is None:
            return None
        for name, value in scope["headers"]:
            if name == b"cookie" and self.login_cookie in value:
                return None
        return cache.get_alias(_anonymous_key(scope, locale))

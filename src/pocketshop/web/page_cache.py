"""Serving storefront pages from the rendered-page cache (see pocketshop.cache).

A cached page is the same for every visitor with the same locale and login: the one
per-visitor part, the CSRF token in its forms, is rendered as a placeholder and filled in
for each answer.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from pocketshop import i18n
from pocketshop.cache import PageCache
from pocketshop.web.security import csrf_token, set_pending_cookies

CSRF_PLACEHOLDER = "__csrf_token_placeholder__"
_PLACEHOLDER_BYTES = CSRF_PLACEHOLDER.encode()

# A render returns its page (made with `csrf=CSRF_PLACEHOLDER`) and the cache tags of what
# it shows.
Renderer = Callable[[], Awaitable[tuple[HTMLResponse, Sequence[str]]]]


def _cache(request: Request) -> PageCache | None:
    cache: PageCache | None = request.app.state.db.page_cache
    return cache


def _answer(request: Request, body: bytes, status_code: int = 200) -> Response:
    filled = body.replace(_PLACEHOLDER_BYTES, csrf_token(request).encode())
    response = HTMLResponse(filled, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    set_pending_cookies(request, response)
    return response


async def serve(request: Request, key: tuple[Any, ...], render: Renderer) -> Response:
    """The cached page for `key` (plus URL, locale and visitor), or a fresh render."""
    cache = _cache(request)
    user = getattr(request.state, "user", None)
    full_key = (
        request.url.path,
        request.url.query,
        i18n.get_locale(),
        user.id if user is not None else None,
        *key,
    )
    if cache is not None:
        body = cache.get(full_key)
        if body is not None:
            return _answer(request, body)
    snapshot = getattr(request.state, "cache_snapshot", None)
    response, tags = await render()
    if response.status_code != 200:
        return _answer(request, bytes(response.body), response.status_code)
    if cache is not None and snapshot is not None:
        cache.put(full_key, bytes(response.body), tags, snapshot)
    return _answer(request, bytes(response.body))

"""Cookies and CSRF for pages.

CSRF is a double-submit token: a random `ps_csrf` cookie, and in every form an HMAC of it
under the secret key, so a cookie planted by another site cannot produce a valid token.
"""

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from pocketshop.config import Settings
from pocketshop.errors import Forbidden
from pocketshop.i18n import _

CSRF_COOKIE = "ps_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _form_token(request: Request, cookie_value: str) -> str:
    key = _settings(request).secrets.secret_key.encode()
    return hmac.new(key, b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token to put in a form; creates the cookie value when the browser has none."""
    cookie_value = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not cookie_value:
        cookie_value = secrets.token_urlsafe(24)
        request.state.new_csrf = cookie_value
    return _form_token(request, cookie_value)


def set_pending_cookies(request: Request, response: Response) -> None:
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(
            CSRF_COOKIE,
            new_csrf,
            httponly=True,
            samesite="lax",
            secure=_settings(request).cookie_secure,
        )


async def require_csrf(request: Request) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    cookie_value = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if (
        not cookie_value
        or not sent
        or not hmac.compare_digest(_form_token(request, cookie_value), sent)
    ):
        raise Forbidden(
            _("This form has expired or did not come from this site. Please try again."),
            code="csrf_failed",
        )

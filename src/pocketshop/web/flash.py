"""A refused form post carried across its redirect (POST-redirect-GET), so that refresh and
Back never post it again: the form's page, opened next, shows the refusal at its field with
what was typed, once.

The refusal rides in a cookie scoped to that page's path: signed (no one can make a page show
text of theirs), short-lived (an old one never surfaces) and cleared by the page that shows
it. Its message was translated when it was refused, with the amounts it names.
"""

import re
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from pocketshop.config import Settings
from pocketshop.errors import AppError

COOKIE = "ps_refused"
_NOTICE = re.compile(r"([?&])done=[^&]*&?")
MAX_AGE = 300  # seconds: the redirect is followed at once


def _serializer(request: Request) -> URLSafeTimedSerializer:
    settings: Settings = request.app.state.settings
    return URLSafeTimedSerializer(settings.secrets.secret_key, salt="pocketshop.refused")


def redirect_refused(
    request: Request, url: str, error: AppError, typed: dict[str, str]
) -> RedirectResponse:
    """Back to the form's page (`url`, its #section kept), carrying the refusal."""
    path = url.partition("#")[0].partition("?")[0]
    response = RedirectResponse(url, status_code=303)
    carried = {"code": error.code, "message": error.message, "field": error.field, "typed": typed}
    response.set_cookie(
        COOKIE,
        _serializer(request).dumps(carried),
        max_age=MAX_AGE,
        path=path,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookie_secure,
    )
    return response


def take(request: Request) -> tuple[AppError | None, dict[str, str]]:
    """The refusal carried to this page, as an error shown at its field (the page itself is
    fine: 200), and what was typed; nothing when none, or when it is forged or old."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None, {}
    try:
        carried: dict[str, Any] = _serializer(request).loads(raw, max_age=MAX_AGE)
        error = AppError(
            str(carried["message"]),
            code=str(carried["code"]),
            field=carried["field"] if isinstance(carried["field"], str) else None,
            status_code=200,
        )
        typed = {str(name): str(value) for name, value in dict(carried["typed"]).items()}
    except (BadSignature, KeyError, TypeError, ValueError):
        return None, {}
    return error, typed


def clear(request: Request, response: Response) -> Response:
    """Shown once: the page that took the refusal forgets it."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path=request.url.path, httponly=True, samesite="lax")
    return response


def without_notice(path: str) -> str:
    """An address (path and query) without its one-time `done` notice: what a page that
    shows it once is, shown again."""
    return _NOTICE.sub(r"\1", path).rstrip("?&")

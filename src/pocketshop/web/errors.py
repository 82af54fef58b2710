"""One way to answer errors: JSON `{"error": {"code", "message"}}` under /api, a page elsewhere.
Never a stack trace to the client."""

import functools
import logging
import re
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from pocketshop import db
from pocketshop.errors import AppError
from pocketshop.i18n import _
from pocketshop.web.headers import secure_response
from pocketshop.web.templating import render

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _status_message(status_code: int) -> str:
    messages = {
        # Starlette's answer to a body it cannot decode (not UTF-8, not the declared type):
        # the sender's mistake, not ours.
        400: _("The request body could not be read: send JSON encoded as UTF-8."),
        401: _("Please log in."),
        403: _("You are not allowed to do that."),
        404: _("Page not found."),
        405: _("This address does not accept that method."),
        422: _("Some of what was sent is not valid."),
        429: _("Too many requests. Please wait a moment."),
    }
    return messages.get(status_code, _("Something went wrong. Please try again."))


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    if _is_api(request):
        body: dict[str, object] = {"code": code, "message": message, **(extra or {})}
        return JSONResponse({"error": body}, status_code=status_code, headers=headers)
    if code == "login_required":
        return RedirectResponse(f"/login?next={quote(_return_path(request))}", status_code=303)
    if code == "phone_required":  # signed in with WeChat: bind a phone, then come back
        return RedirectResponse(f"/me/phone?next={quote(_return_path(request))}", status_code=303)
    if code == "not_a_merchant":  # a user without a shop, on a console page
        return RedirectResponse("/onboarding", status_code=303)
    response = render(
        request,
        "web/error.html",
        {"status_code": status_code, "message": message},
        status_code=status_code,
    )
    response.headers.update(headers or {})
    return response


def _return_path(request: Request) -> str:
    """Where to come back after logging in: this page, or for a form post the page it was on
    (the post's own address would answer 405 to the browser's GET)."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        return referer.path
    return "/"


async def app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    extra: dict[str, object] | None = {"field": exc.field} if exc.field else None
    return error_response(
        request, exc.status_code, exc.code, exc.message, headers=exc.headers, extra=extra
    )


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(
        request, exc.status_code, code, _status_message(exc.status_code), headers=headers
    )


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method the address answers (RFC 9110 §15.5.6). Starlette names only those of the
    first route that matched the path, and GET and POST of one path are two routes. An
    address of the API has the methods its schema gives it; a page's, each method tried
    against the routes as routing would."""
    documented = _documented_methods(request)
    if documented is not None:
        return documented
    routes = [route for route in request.app.router.routes if isinstance(route, BaseRoute)]
    return ", ".join(
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "field": ".".join(str(part) for part in err.get("loc", ())[1:]) or None,
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    return error_response(request, 422, "invalid", _status_message(422), extra={"details": details})


def _documented_methods(request: Request) -> str | None:
    """The methods of the schema's path for this address; a literal path before a templated
    one, as OpenAPI matches them (`/groups/order` is not `/groups/{group_id}`)."""
    paths: dict[str, dict[str, object]] = request.app.openapi()["paths"]
    matching = [path for path in paths if _path_pattern(path).fullmatch(request.url.path)]
    if not matching:
        return None
    fewest = min(path.count("{") for path in matching)
    methods = {
        method.upper() for path in matching if path.count("{") == fewest for method in paths[path]
    }
    return ", ".join(sorted(methods))


@functools.cache
def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


async def database_error(request: Request, exc: Exception) -> Response:
    """The database went away or could not be reached (the request's work was rolled back,
    or never reached it): 503, try again shortly. Any other database error is a bug: 500."""
    if not db.unavailable(exc):
        return await server_error(request, exc)
    log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
    return error_response(
        request,
        503,
        "database_unavailable",
        _("The service is briefly unavailable. Please try again in a moment."),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    response = error_response(request, 500, "internal_error", _status_message(500))
    # Starlette answers this outside the middleware stack, SecurityHeaders included.
    secure_response(response, request.app.state.settings)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    # What losing the database raises; answered by ExceptionMiddleware, inside the middleware
    # stack (the Exception handler below answers outside it, and the error propagates).
    for raised in (DBAPIError, ConnectionError, TimeoutError):
        app.add_exception_handler(raised, database_error)
    app.add_exception_handler(Exception, server_error)

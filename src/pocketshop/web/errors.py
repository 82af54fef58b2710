"""One way to answer errors: JSON `{"error": {"code", "message"}}` under /api, a page elsewhere.
Never a stack trace to the client."""

import logging
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pocketshop.errors import AppError
from pocketshop.i18n import _
from pocketshop.web.templating import render

log = logging.getLogger(__name__)

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
    if code == "no_shop":
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
    return error_response(
        request,
        exc.status_code,
        code,
        _status_message(exc.status_code),
        headers=dict(exc.headers or {}),
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


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal_error", _status_message(500))


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)

"""Domain errors and how they are answered: JSON under /api, a friendly page elsewhere."""

from collections.abc import Callable
from typing import Any


class AppError(Exception):
    """An error meant for the user: a stable code, a translated message and an HTTP status."""

    status_code = 400
    code = "bad_request"
    # Commit what the service flushed before raising (e.g. a counted wrong try).
    keep_changes = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.field = field
        self.headers = headers or {}
        if keep_changes is not None:
            self.keep_changes = keep_changes

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}


class InvalidInput(AppError):
    status_code = 422
    code = "invalid"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class ProviderUnavailable(AppError):
    """A payment provider (or another service) we depend on did not answer as it should."""

    status_code = 502
    code = "provider_unavailable"


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, **kw: Any):
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)}, **kw)
        self.retry_after = retry_after


def refusal_of(check: Callable[[], object]) -> AppError | None:
    """The error `check` refuses with, or None: for a page that explains a refusal by running
    checks again that read what it gives them and write nothing."""
    try:
        check()
    except AppError as error:
        return error
    return None

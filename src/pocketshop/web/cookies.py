"""The guest's long-lived cookies (cart, attribution): set and cleared with one set of
attributes, since a browser may refuse to let a plain answer overwrite a Secure cookie."""

from fastapi import Response

from pocketshop.config import Settings


def keep(response: Response, settings: Settings, name: str, value: str, *, days: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=days * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )


def forget(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(name, httponly=True, samesite="lax", secure=settings.cookie_secure)

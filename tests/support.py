"""Helpers shared by tests: reading SMS codes, CSRF tokens, logging in both ways."""

import re

import httpx
from fastapi import FastAPI

from pocketshop.accounts.sms import ConsoleSmsSender


def last_code(app: FastAPI, phone_e164: str) -> str:
    """The newest login code the console SMS backend sent to a phone."""
    sender = app.state.sms
    assert isinstance(sender, ConsoleSmsSender)
    for message in sender.sent:
        if message.phone == phone_e164:
            found = re.search(r"\b(\d{6})\b", message.text)
            assert found, message.text
            return found.group(1)
    raise AssertionError(f"no SMS sent to {phone_e164}")


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def api_login(client: httpx.AsyncClient, app: FastAPI, phone: str) -> dict[str, str]:
    """Log in through the JSON API; returns the Authorization header."""
    sent = await client.post("/api/v1/auth/sms-codes", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    code = last_code(app, sent.json()["phone"])
    token = await client.post("/api/v1/auth/tokens", json={"phone": phone, "code": code})
    assert token.status_code == 201, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def page_login(
    client: httpx.AsyncClient, app: FastAPI, phone: str, next_url: str = "/console"
) -> httpx.Response:
    """Log in through the HTML forms (cookie + CSRF); returns the final response."""
    page = await client.get(f"/login?next={next_url}")
    sent = await client.post(
        "/login/code", data={"phone": phone, "next": next_url, "csrf_token": csrf_from(page.text)}
    )
    assert sent.status_code == 200, sent.text
    e164 = re.search(r'name="phone" value="(\+\d+)"', sent.text)
    assert e164
    code = last_code(app, e164.group(1))
    return await client.post(
        "/login",
        data={
            "phone": e164.group(1),
            "code": code,
            "next": next_url,
            "csrf_token": csrf_from(sent.text),
        },
    )

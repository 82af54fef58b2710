"""Phone login on the HTML pages: the same rules as the API, shown as pages, with CSRF."""

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock
from pocketshop.accounts.deps import SESSION_COOKIE
from pocketshop.accounts.models import AuthSession, SmsCode, User
from pocketshop.db import Database
from tests.accounts.test_login import PHONE, PHONE_E164, codes, wrong
from tests.support import (
    count,
    counts,
    csrf_for,
    csrf_from,
    last_code,
    other_client,
    page_alert,
    page_login,
    tr,
)


async def page_send(client: httpx.AsyncClient, phone: str = PHONE) -> httpx.Response:
    token = await csrf_for(client, "/login")
    return await client.post(
        "/login/code", data={"phone": phone, "next": "/console", "csrf_token": token}
    )


async def page_code(
    client: httpx.AsyncClient, code: str, phone: str = PHONE_E164
) -> httpx.Response:
    token = await csrf_for(client, "/login")
    return await client.post(
        "/login", data={"phone": phone, "code": code, "next": "/console", "csrf_token": token}
    )


def assert_page_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert page_alert(response.text) == (code, message)


async def test_page_wrong_code(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    assert (await page_send(client)).status_code == 200
    code = last_code(app, PHONE_E164)

    response = await page_code(client, wrong(code))
    assert_page_error(response, 422, "wrong_code", tr("Wrong code. %(left)s tries left.", left=4))
    assert 'action="/login"' in response.text  # the code form is shown again
    assert SESSION_COOKIE not in client.cookies
    assert [c.attempts for c in await codes(db)] == [1]
    assert await count(db, User) == 0
    assert await count(db, AuthSession) == 0


async def test_page_expired_code(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    await page_send(client)
    code = last_code(app, PHONE_E164)
    clock.advance(timedelta(minutes=6))
    response = await page_code(client, code)
    assert_page_error(
        response, 422, "code_expired", tr("This code has expired. Please ask for a new one.")
    )
    assert SESSION_COOKIE not in client.cookies
    assert await count(db, User) == 0


async def test_page_locked_code(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    await page_send(client)
    code = last_code(app, PHONE_E164)
    for _try in range(4):
        assert (await page_code(client, wrong(code))).status_code == 422
    last_try = await page_code(client, wrong(code))
    assert_page_error(
        last_try,
        422,
        "wrong_code",
        tr("Wrong code. No tries left; please ask for a new code."),
    )
    locked = await page_code(client, code)
    assert_page_error(
        locked, 429, "code_locked", tr("Too many wrong tries. Please ask for a new code.")
    )
    assert SESSION_COOKIE not in client.cookies
    assert await count(db, User) == 0
    assert await count(db, AuthSession) == 0


async def test_page_resend_too_soon(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    await page_send(client)
    before = await counts(db)
    clock.advance(timedelta(seconds=20))
    again = await page_send(client, "138 0013 8000")
    assert again.status_code == 429
    code, message = page_alert(again.text)
    assert code == "resend_too_soon"
    wait = int(again.headers["Retry-After"])
    assert 39 <= wait <= 40
    assert message == tr(
        "A code was just sent. You can ask for another in %(seconds)s seconds.", seconds=wait
    )
    # The code that was sent is still good, so the code form stays.
    assert 'action="/login"' in again.text
    assert await counts(db) == before


async def test_page_phone_hourly_cap(client: httpx.AsyncClient, db: Database) -> None:
    for _send in range(5):
        assert (await page_send(client)).status_code == 200
        clock.advance(timedelta(seconds=61))
    capped = await page_send(client)
    assert_page_error(
        capped,
        429,
        "phone_hourly_cap",
        tr("Too many codes were sent to this number. Please try again in an hour."),
    )
    assert int(capped.headers["Retry-After"]) > 0
    assert await count(db, SmsCode) == 5


@pytest.mark.parametrize(
    ("phone", "code", "message"),
    [
        ("", "phone_required", "Enter your mobile phone number."),
        ("12345", "invalid_phone", "That is not a valid mobile phone number."),
        ("010 1234 5678", "not_mobile", "Codes can only be sent to a mobile phone number."),
    ],
)
async def test_page_invalid_phone(
    client: httpx.AsyncClient, db: Database, phone: str, code: str, message: str
) -> None:
    response = await page_send(client, phone)
    assert_page_error(response, 422, code, tr(message))
    assert 'action="/login/code"' in response.text  # asked for the phone again
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


async def test_page_code_form_with_a_bad_phone_asks_for_the_phone(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await page_code(client, "123456", phone="12345")
    assert_page_error(
        response, 422, "invalid_phone", tr("That is not a valid mobile phone number.")
    )
    assert 'action="/login/code"' in response.text
    assert 'name="code"' not in response.text  # not a code form with the bad number hidden
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


async def test_page_login_escapes_what_was_typed(client: httpx.AsyncClient, db: Database) -> None:
    response = await page_send(client, '"><script>x</script>')
    assert response.status_code == 422
    assert "<script>x</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert await count(db, SmsCode) == 0


CSRF_MESSAGE = "This form has expired or did not come from this site. Please try again."


async def test_page_send_code_without_csrf(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    await csrf_for(client, "/login")  # the browser has the cookie, the form lacks the token
    response = await client.post("/login/code", data={"phone": PHONE, "next": "/console"})
    assert response.status_code == 403
    assert tr(CSRF_MESSAGE) in response.text
    assert await counts(db) == dict.fromkeys(await counts(db), 0)
    with pytest.raises(AssertionError):
        last_code(app, PHONE_E164)


async def test_page_login_without_csrf(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    await page_send(client)
    code = last_code(app, PHONE_E164)
    before = await counts(db)
    response = await client.post("/login", data={"phone": PHONE_E164, "code": code})
    assert response.status_code == 403
    assert tr(CSRF_MESSAGE) in response.text
    assert SESSION_COOKIE not in client.cookies
    assert await counts(db) == before
    assert [(c.attempts, c.consumed_at) for c in await codes(db)] == [(0, None)]


async def test_page_login_with_wrong_csrf(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    await page_send(client)
    code = last_code(app, PHONE_E164)
    mine = await csrf_for(client, "/login")
    async with other_client(app) as stranger:
        theirs = await csrf_for(stranger, "/login")
    before = await counts(db)
    for token in (theirs, mine[:-1] + ("0" if mine[-1] != "0" else "1"), "", "x" * 64):
        response = await client.post(
            "/login", data={"phone": PHONE_E164, "code": code, "csrf_token": token}
        )
        assert response.status_code == 403, token
        assert tr(CSRF_MESSAGE) in response.text
    # A token without its cookie (a cross-site form) is refused as well.
    client.cookies.delete("ps_csrf")
    response = await client.post(
        "/login", data={"phone": PHONE_E164, "code": code, "csrf_token": mine}
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert await counts(db) == before


async def test_page_logout_revokes_the_session(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    assert (await page_login(client, app, PHONE)).status_code == 303
    cookie = client.cookies[SESSION_COOKIE]
    console = await client.get("/console")
    assert console.status_code == 303
    assert console.headers["location"] == "/onboarding"  # logged in, no shop yet

    # Without the CSRF token nothing happens.
    refused = await client.post("/logout")
    assert refused.status_code == 403
    assert (await client.get("/console")).headers["location"] == "/onboarding"

    token = await csrf_for(client, "/onboarding")
    out = await client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert SESSION_COOKIE not in client.cookies
    async with db.transaction(write=False) as s:
        assert (await s.scalar(select(AuthSession.revoked_at))) is not None

    # Replaying the old cookie does not log anyone in.
    async with other_client(app) as replay:
        replay.cookies.set(SESSION_COOKIE, cookie)
        again = await replay.get("/console")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/login")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
async def test_page_login_only_redirects_within_the_site(
    client: httpx.AsyncClient, app: FastAPI, target: str
) -> None:
    done = await page_login(client, app, PHONE, next_url=target)
    assert done.status_code == 303
    assert done.headers["location"] == "/console"


async def test_page_code_step_of_onboarding_keeps_the_onboarding_frame(
    client: httpx.AsyncClient,
) -> None:
    start = await client.get("/onboarding")
    sent = await client.post(
        "/login/code",
        data={"phone": "13800138077", "next": "/onboarding", "csrf_token": csrf_from(start.text)},
    )
    assert sent.status_code == 200
    assert 'class="progress"' in sent.text
    assert 'name="code"' in sent.text
    # Shown as people write it; the hidden field keeps the normalised number.
    assert "138 0013 8077" in sent.text
    assert 'name="phone" value="+8613800138077"' in sent.text

    plain = await client.post(
        "/login/code",
        data={"phone": "13800138078", "next": "/console", "csrf_token": csrf_from(start.text)},
    )
    assert 'class="progress"' not in plain.text


async def test_logged_out_form_post_returns_to_the_page_it_came_from(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/onboarding")
    response = await client.post(
        "/onboarding/identity",
        data={"real_name": "王小明", "csrf_token": csrf_from(page.text)},
        headers={"referer": "http://testserver/onboarding"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/onboarding"
    foreign = await client.post(
        "/onboarding/identity",
        data={"real_name": "王小明", "csrf_token": csrf_from(page.text)},
        headers={"referer": "https://evil.example/onboarding"},
    )
    assert foreign.headers["location"] == "/login?next=/"

"""Phone + SMS code login with bad input: the service and the JSON API (the HTML pages are in
test_login_pages.py).

Every refused request is checked twice: the error it answers with, and that nothing was stored
(no user, no session, no extra code or SMS) beyond what the rule itself counts.
"""

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from pocketshop import clock
from pocketshop.accounts import service
from pocketshop.accounts.deps import SESSION_COOKIE, cookie_signer
from pocketshop.accounts.models import AuthSession, SmsCode, User
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.errors import AppError, InvalidInput, TooManyRequests
from tests.conftest import is_postgres
from tests.support import (
    api_error,
    api_login,
    count,
    counts,
    e164,
    last_code,
    page_login,
    statements_run,
)

PHONE = "13800138000"
PHONE_E164 = "+8613800138000"
OTHER_PHONE = "13900139000"
SEND = "/api/v1/auth/sms-codes"
TOKENS = "/api/v1/auth/tokens"


def wrong(code: str) -> str:
    """A well-formed code that is not `code`."""
    return f"{(int(code) + 1) % 10**6:06d}"


async def codes(db: Database, phone: str = PHONE_E164) -> list[SmsCode]:
    async with db.transaction(write=False) as s:
        return list(await s.scalars(select(SmsCode).where(SmsCode.phone == phone)))


async def api_send(client: httpx.AsyncClient, phone: str = PHONE) -> httpx.Response:
    return await client.post(SEND, json={"phone": phone})


async def api_sent_code(client: httpx.AsyncClient, app: FastAPI, phone: str = PHONE) -> str:
    sent = await api_send(client, phone)
    assert sent.status_code == 202, sent.text
    return last_code(app, sent.json()["phone"])


async def api_token(client: httpx.AsyncClient, code: str, phone: str = PHONE) -> httpx.Response:
    return await client.post(TOKENS, json={"phone": phone, "code": code})


# --- service ------------------------------------------------------------------------------------


async def service_send(
    app: FastAPI, db: Database, settings: Settings, phone: str = PHONE, ip: str = "10.0.0.1"
) -> str:
    """Send a code through the service, deliver the SMS, return the code."""
    async with db.transaction() as s:
        sent = await service.send_login_code(s, settings, phone=phone, ip=ip)
    await app.state.dispatch_outbox()
    return last_code(app, sent.phone)


async def service_verify(db: Database, settings: Settings, code: str, phone: str = PHONE) -> User:
    async with db.transaction() as s:
        return await service.verify_login_code(s, settings, phone=phone, code=code)


async def service_refusal(
    db: Database, settings: Settings, code: str, phone: str = PHONE
) -> AppError:
    """Run verify_login_code the way a request does (the error leaves the transaction)."""
    with pytest.raises(AppError) as refused:
        await service_verify(db, settings, code, phone)
    return refused.value


@pytest.mark.parametrize(
    "raw", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "+8613800138000", "(138)00138000"]
)
def test_service_normalises_phone(raw: str) -> None:
    assert service.normalise_phone(raw, "CN") == PHONE_E164


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "phone_required"),
        ("   ", "phone_required"),
        ("12345", "invalid_phone"),
        ("not a phone", "invalid_phone"),
        ("+86 138 0013 80001", "invalid_phone"),
        ("010 1234 5678", "not_mobile"),  # a Beijing landline cannot receive SMS
    ],
)
def test_service_refuses_bad_phone(raw: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.normalise_phone(raw, "CN")
    assert refused.value.code == code
    assert refused.value.field == "phone"


def test_long_text_is_refused_before_it_is_parsed_or_kept() -> None:
    kept = service._parse_mobile.cache_info().currsize
    with pytest.raises(InvalidInput) as refused:
        service.normalise_phone("138 0013 8000" + "0" * 40, "CN")
    assert refused.value.code == "invalid_phone"
    assert service._parse_mobile.cache_info().currsize == kept


async def test_service_wrong_code_is_counted_and_kept(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    code = await service_send(app, db, settings)
    refused = await service_refusal(db, settings, wrong(code))
    assert (refused.code, refused.status_code) == ("wrong_code", 422)
    assert refused.keep_changes  # the count must survive the rolled-back request
    assert [c.attempts for c in await codes(db)] == [1]
    assert await count(db, User) == 0

    user = await service_verify(db, settings, code)
    assert user.phone == PHONE_E164
    assert [c.consumed_at is not None for c in await codes(db)] == [True]


async def test_service_refuses_badly_formed_code_without_counting(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    await service_send(app, db, settings)
    for bad in ("", "12345", "1234567", "abcdef", "１２３４５６", "12 345"):
        refused = await service_refusal(db, settings, bad)
        assert refused.code == "invalid_code_format", bad
    assert [c.attempts for c in await codes(db)] == [0]
    assert await count(db, User) == 0


async def test_service_expired_code(app: FastAPI, db: Database, settings: Settings) -> None:
    code = await service_send(app, db, settings)
    clock.advance(timedelta(seconds=settings.sms_code_ttl_seconds))
    refused = await service_refusal(db, settings, code)
    assert (refused.code, refused.status_code) == ("code_expired", 422)
    assert await count(db, User) == 0
    assert [c.consumed_at for c in await codes(db)] == [None]


async def test_service_locks_code_after_max_attempts(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    code = await service_send(app, db, settings)
    for left in range(settings.sms_code_max_attempts - 1, -1, -1):
        refused = await service_refusal(db, settings, wrong(code))
        assert refused.code == "wrong_code"
        assert str(left) in refused.message or left == 0
    locked = await service_refusal(db, settings, code)
    assert isinstance(locked, TooManyRequests)
    assert (locked.code, locked.status_code) == ("code_locked", 429)
    assert int(locked.headers["Retry-After"]) > 0
    assert [c.attempts for c in await codes(db)] == [settings.sms_code_max_attempts]
    assert await count(db, User) == 0


async def test_service_parallel_guess_cannot_pass_the_limit(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    """A guess whose request read the code before another request spent the last try must
    not be compared any more: the try is counted in the database before the comparison."""
    code = await service_send(app, db, settings)
    for _try in range(settings.sms_code_max_attempts - 1):
        assert (await service_refusal(db, settings, wrong(code))).code == "wrong_code"
    async with db.sessionmaker() as racer:
        # The racing request reads the code while one try is still left ...
        seen = await racer.scalar(select(SmsCode))
        assert seen is not None
        assert seen.attempts == settings.sms_code_max_attempts - 1
        await racer.commit()  # (ends the read; the loaded row stays as it was read)
        # ... then another request spends that last try ...
        assert (await service_refusal(db, settings, wrong(code))).code == "wrong_code"
        # ... so the racing guess is refused, though it is the right code.
        with pytest.raises(TooManyRequests) as refused:
            await service.verify_login_code(racer, settings, phone=PHONE, code=code)
        assert refused.value.code == "code_locked"
        await racer.rollback()
    assert await count(db, User) == 0
    assert [(c.attempts, c.consumed_at) for c in await codes(db)] == [
        (settings.sms_code_max_attempts, None)
    ]


async def until_blocked(db: Database, task: "asyncio.Task[object]") -> None:
    """Return once `task` waits for an advisory lock held by another transaction (or ended)."""
    for _poll in range(2000):
        if task.done():
            return
        async with db.engine.connect() as watcher:
            waiting = await watcher.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        if waiting:
            return
    raise AssertionError("the second request neither finished nor waited")


@pytest.mark.skipif(not is_postgres(), reason="SQLite runs writing requests one at a time")
async def test_service_parallel_sends_wait_for_each_other(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    """Two requests for one phone at the same moment: the second waits and is refused, instead
    of both reading "nothing sent yet" and both sending an SMS."""

    async def send_again() -> object:
        async with db.transaction() as s:
            return await service.send_login_code(s, settings, phone=PHONE, ip="10.0.0.2")

    async with db.transaction() as first:
        await service.send_login_code(first, settings, phone=PHONE, ip="10.0.0.1")
        second: asyncio.Task[object] = asyncio.create_task(send_again())
        await until_blocked(db, second)
    with pytest.raises(TooManyRequests) as refused:
        await second
    assert refused.value.code == "resend_too_soon"
    assert len(await codes(db)) == 1


async def test_service_resend_delay_is_never_shortened(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    await service_send(app, db, settings)
    for seconds in (0, 30, 29.5):  # 0 s, 30 s, 59.5 s after the first code
        clock.advance(timedelta(seconds=seconds))
        async with db.transaction() as s:
            with pytest.raises(TooManyRequests) as refused:
                await service.send_login_code(s, settings, phone=PHONE, ip="10.0.0.1")
        assert refused.value.code == "resend_too_soon"
        assert 1 <= refused.value.retry_after <= settings.sms_resend_seconds
        assert refused.value.headers["Retry-After"] == str(refused.value.retry_after)
    assert len(await codes(db)) == 1
    clock.advance(timedelta(seconds=0.5))
    await service_send(app, db, settings)
    assert len(await codes(db)) == 2


async def test_service_latest_code_wins(app: FastAPI, db: Database, settings: Settings) -> None:
    first = await service_send(app, db, settings)
    clock.advance(timedelta(seconds=61))
    second = await service_send(app, db, settings)
    if first != second:
        refused = await service_refusal(db, settings, first)
        assert refused.code == "wrong_code"
    assert (await service_verify(db, settings, second)).phone == PHONE_E164
    # A used code cannot log in again.
    assert (await service_refusal(db, settings, second)).code == "no_code"


# --- JSON API -----------------------------------------------------------------------------------


async def test_api_wrong_code(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    code = await api_sent_code(client, app)
    before = await counts(db)

    error = api_error(await api_token(client, wrong(code)), 422, "wrong_code")
    assert error["field"] == "code"
    assert [c.attempts for c in await codes(db)] == [1]
    assert await counts(db) == before  # no user, no session; only the count moved
    assert before["users"] == 0

    api_error(await api_token(client, wrong(code)), 422, "wrong_code")
    assert [c.attempts for c in await codes(db)] == [2]

    # The right code still works while tries are left.
    assert (await api_token(client, code)).status_code == 201
    assert await count(db, User) == 1


async def test_api_expired_code(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    code = await api_sent_code(client, app)
    clock.advance(timedelta(minutes=5, seconds=1))
    before = await counts(db)
    api_error(await api_token(client, code), 422, "code_expired")
    assert await counts(db) == before
    assert before["users"] == before["auth_sessions"] == 0
    assert [(c.attempts, c.consumed_at) for c in await codes(db)] == [(0, None)]


async def test_api_code_still_good_just_before_expiry(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    code = await api_sent_code(client, app)
    clock.advance(timedelta(minutes=4, seconds=58))
    assert (await api_token(client, code)).status_code == 201


async def test_api_sixth_try_is_locked_even_with_the_right_code(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    code = await api_sent_code(client, app)
    for _try in range(5):
        api_error(await api_token(client, wrong(code)), 422, "wrong_code")
    locked = await api_token(client, wrong(code))
    api_error(locked, 429, "code_locked")
    assert int(locked.headers["Retry-After"]) > 0

    right = await api_token(client, code)
    api_error(right, 429, "code_locked")
    assert [(c.attempts, c.consumed_at) for c in await codes(db)] == [(5, None)]
    assert await count(db, User) == 0
    assert await count(db, AuthSession) == 0

    # A new code (after the resend delay) unlocks the phone.
    clock.advance(timedelta(seconds=61))
    fresh = await api_sent_code(client, app)
    assert (await api_token(client, fresh)).status_code == 201


async def test_api_badly_formed_code_is_not_counted(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    await api_sent_code(client, app)
    for bad in ("12345", "abcdef", "１２３４５６", "1234567"):
        api_error(await api_token(client, bad), 422, "invalid_code_format")
    api_error(await api_token(client, "1" * 17), 422, "invalid")  # longer than the schema allows
    assert [c.attempts for c in await codes(db)] == [0]
    assert await count(db, User) == 0


async def test_api_login_without_a_code(client: httpx.AsyncClient, db: Database) -> None:
    api_error(await api_token(client, "123456"), 422, "no_code")
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


async def test_api_code_of_another_phone(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    code = await api_sent_code(client, app, PHONE)
    api_error(await api_token(client, code, OTHER_PHONE), 422, "no_code")
    other = await api_sent_code(client, app, OTHER_PHONE)
    if other != code:
        api_error(await api_token(client, code, OTHER_PHONE), 422, "wrong_code")
    assert await count(db, User) == 0


async def test_api_code_cannot_be_used_twice(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    code = await api_sent_code(client, app)
    assert (await api_token(client, code)).status_code == 201
    api_error(await api_token(client, code), 422, "no_code")
    assert await count(db, AuthSession) == 1


async def test_api_resend_too_soon(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    await api_sent_code(client, app)
    before = await counts(db)

    again = await api_send(client)
    api_error(again, 429, "resend_too_soon")
    assert 1 <= int(again.headers["Retry-After"]) <= 60
    clock.advance(timedelta(seconds=59, milliseconds=500))
    almost = await api_send(client)
    api_error(almost, 429, "resend_too_soon")
    assert almost.headers["Retry-After"] == "1"
    assert await counts(db) == before  # no new code, no new SMS

    clock.advance(timedelta(milliseconds=500))
    assert (await api_send(client)).status_code == 202
    assert len(await codes(db)) == 2


async def test_api_phone_hourly_cap(client: httpx.AsyncClient, app: FastAPI, db: Database) -> None:
    for _send in range(5):
        assert (await api_send(client)).status_code == 202
        clock.advance(timedelta(seconds=61))
    before = await counts(db)

    capped = await api_send(client)
    api_error(capped, 429, "phone_hourly_cap")
    assert int(capped.headers["Retry-After"]) > 0
    assert await counts(db) == before
    assert before["sms_codes"] == 5

    # Another phone from the same network is not affected.
    assert (await api_send(client, OTHER_PHONE)).status_code == 202
    # An hour after the first code, this phone may ask again.
    clock.advance(timedelta(seconds=3600 - 4 * 61))
    assert (await api_send(client)).status_code == 202


async def test_api_ip_hourly_cap(
    client: httpx.AsyncClient, app: FastAPI, db: Database, settings: Settings
) -> None:
    phones = [f"1380013{n:04d}" for n in range(settings.sms_hourly_cap_per_ip + 1)]
    for phone in phones[:-1]:
        assert (await api_send(client, phone)).status_code == 202
    before = await counts(db)

    capped = await api_send(client, phones[-1])
    api_error(capped, 429, "ip_hourly_cap")
    assert int(capped.headers["Retry-After"]) > 0
    assert await counts(db) == before
    assert await codes(db, e164(phones[-1])) == []
    with pytest.raises(AssertionError):
        last_code(app, e164(phones[-1]))


async def test_api_phone_formats_are_one_user(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    ids = set()
    for raw in ("138 0013 8000", "+86 138-0013-8000", "13800138000"):
        sent = await api_send(client, raw)
        assert sent.status_code == 202, sent.text
        assert sent.json()["phone"] == PHONE_E164
        token = await api_token(client, last_code(app, PHONE_E164), raw)
        assert token.status_code == 201, token.text
        ids.add(token.json()["user"]["id"])
        assert token.json()["user"]["phone"] == PHONE_E164
        clock.advance(timedelta(seconds=61))
    assert len(ids) == 1
    assert await count(db, User) == 1


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("", "phone_required"),
        ("12345", "invalid_phone"),
        ("call me maybe", "invalid_phone"),
        ("010 1234 5678", "not_mobile"),
        ("1" * 33, "invalid"),  # longer than the schema allows
    ],
)
async def test_api_invalid_phone(
    client: httpx.AsyncClient, db: Database, phone: str, code: str
) -> None:
    api_error(await api_send(client, phone), 422, code)
    api_error(await api_token(client, "123456", phone), 422, code)
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


@pytest.mark.parametrize(
    ("path", "content"),
    [
        (SEND, b'{"phone": "13800138000"'),
        (SEND, b"phone=13800138000"),
        (SEND, b"[]"),
        (SEND, b'{"phone": 13800138000}'),
        (SEND, b"{}"),
        (SEND, b'{"phone": "13800138000", "ip": "1.2.3.4"}'),
        (TOKENS, b'{"phone": "13800138000", "code": "123456", "user_id": 1}'),
        (TOKENS, b'{"phone": "13800138000"}'),
        (TOKENS, b"\xff\xfe"),
    ],
)
async def test_api_malformed_bodies(
    client: httpx.AsyncClient, db: Database, path: str, content: bytes
) -> None:
    response = await client.post(
        path, content=content, headers={"content-type": "application/json"}
    )
    error = api_error(response, 422, "invalid")
    assert isinstance(error["details"], list)
    assert error["details"]
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


async def test_api_extra_field_is_named(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.post(SEND, json={"phone": PHONE, "admin": True})
    error = api_error(response, 422, "invalid")
    assert error["details"] == [
        {"field": "admin", "message": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Token abc"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me"),
        ("DELETE", "/api/v1/auth/tokens/current"),
        ("GET", "/api/v1/onboarding"),
        ("GET", "/api/v1/me/shop"),
    ],
)
async def test_api_needs_a_bearer_token(
    client: httpx.AsyncClient, db: Database, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.request(method, path, headers=headers)
    api_error(response, 401, "not_authenticated")
    assert await counts(db) == dict.fromkeys(await counts(db), 0)


async def test_api_logout_revokes_only_that_token(
    client: httpx.AsyncClient, app: FastAPI, db: Database
) -> None:
    auth = await api_login(client, app, PHONE)
    clock.advance(timedelta(seconds=61))
    other_auth = await api_login(client, app, PHONE)
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200

    out = await client.delete("/api/v1/auth/tokens/current", headers=auth)
    assert out.status_code == 204
    api_error(await client.get("/api/v1/me", headers=auth), 401, "not_authenticated")
    api_error(
        await client.delete("/api/v1/auth/tokens/current", headers=auth), 401, "not_authenticated"
    )
    async with db.transaction(write=False) as s:
        revoked = list(await s.scalars(select(AuthSession.revoked_at).order_by(AuthSession.id)))
    assert revoked[0] is not None
    assert revoked[1] is None
    # The same user's other token is untouched.
    assert (await client.get("/api/v1/me", headers=other_auth)).status_code == 200


async def test_api_token_expires(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    auth = await api_login(client, app, PHONE)
    clock.advance(timedelta(days=settings.session_days, seconds=1))
    api_error(await client.get("/api/v1/me", headers=auth), 401, "not_authenticated")


async def test_a_login_is_checked_from_the_cache_until_it_ends(
    client: httpx.AsyncClient, app: FastAPI, db: Database, settings: Settings
) -> None:
    auth = await api_login(client, app, PHONE)
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    with statements_run(db) as seen:
        assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    assert not any("auth_sessions" in statement for statement in seen)

    clock.advance(timedelta(days=settings.session_days, seconds=1))  # expiry: checked each time
    api_error(await client.get("/api/v1/me", headers=auth), 401, "not_authenticated")
    clock.reset()
    assert (await client.get("/api/v1/me", headers=auth)).status_code == 200
    assert (await client.delete("/api/v1/auth/tokens/current", headers=auth)).status_code == 204
    api_error(await client.get("/api/v1/me", headers=auth), 401, "not_authenticated")


async def test_page_session_is_not_a_bearer_token(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    assert (await page_login(client, app, PHONE)).status_code == 303
    cookie = client.cookies[SESSION_COOKIE]
    raw_token = cookie_signer(settings).unsign(cookie).decode()
    for token in (raw_token, cookie):
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        api_error(response, 401, "not_authenticated")


async def test_bearer_token_is_not_a_page_session(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    auth = await api_login(client, app, PHONE)
    token = auth["Authorization"].removeprefix("Bearer ")
    client.cookies.set(SESSION_COOKIE, cookie_signer(settings).sign(token).decode())
    console = await client.get("/console")
    assert console.status_code == 303
    assert console.headers["location"].startswith("/login")

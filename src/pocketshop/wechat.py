"""What every call to WeChat's server API (api.weixin.qq.com) shares, whichever app makes it (a
mini program, an Official Account):

- JSON over HTTPS: WeChat answers HTTP 200 with a JSON object, carrying `errcode` (0 or absent:
  success) and `errmsg`. Anything else (no answer in time, HTTP 5xx, not JSON) is unclear, so
  `WeChatUnavailable`: the same call may work later.
- The access token (接口调用凭据) from getStableAccessToken, `POST /cgi-bin/stable_token`, kept
  per instance until shortly before its `expires_in` (at most 7200 s) and fetched once at a time.
  A token that WeChat stops taking early (40001, 40014, 42001: `TOKEN_REJECTED`) is forgotten by
  the caller, which gets the one WeChat holds now and tries once more.
- Answers only the operator can fix (a wrong app id or secret, the server's address off the
  app's IP whitelist, a frozen secret) are `WeChatMisconfigured`, said at ERROR once until a
  success shows them fixed. Still "later" for the caller: once fixed, the same call works.

The exceptions are neutral: each caller says what they mean to it (a notification waits for the
outbox's next try, a sign-in asks the user to try again).

WeChat's documentation relied on:
- stable token: https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html
  (the same for an Official Account: https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html)
- classic token and why several servers must not each fetch one: https://developers.weixin.qq.com/doc/oplatform/developers/dev/AccessToken.html
- common error codes (-1, 40001, 40013, 40125, 40164, 42001, …): https://developers.weixin.qq.com/doc/channels/API/basics/commErrCode.html
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from pocketshop import clock

log = logging.getLogger(__name__)

GATEWAY = "https://api.weixin.qq.com"
# Answers to a call made with an access token that WeChat no longer takes: revoked (someone
# forced a refresh, or reset the secret), "not latest", or expired early.
TOKEN_REJECTED = frozenset({40001, 40014, 42001})
# A token or ticket is used until this long before WeChat says it expires. In its normal mode
# the stable token API hands out a new token during the last 5 minutes of the old one (both
# then work), so a fetch made after this margin gets the next token rather than the dying one.
MARGIN = timedelta(minutes=5)


class WeChatUnavailable(Exception):
    """No usable answer now (busy, quota, timeout, 5xx, garbage): the same call may work later."""


class WeChatMisconfigured(WeChatUnavailable):
    """WeChat refuses the app's own settings; only the operator can fix them."""


class WeChatRefused(Exception):
    """WeChat's answer is final for this request: asking again will not change it."""


def config_errors(setting_names: tuple[str, str] | None = None) -> dict[int, str]:
    """What each answer about the app's own credentials means, naming the settings (of the app
    id, of the app secret) to fix when given."""
    appid, secret = "the app id", "the app secret"
    if setting_names is not None:
        appid, secret = f"{appid} ({setting_names[0]})", f"{secret} ({setting_names[1]})"
    return {
        40001: f"{secret} is wrong",  # from the token API; elsewhere it is TOKEN_REJECTED
        40002: "grant_type refused",
        40013: f"{appid} is wrong",
        40125: f"{secret} is wrong",
        40164: "this server's IP address is not on the app's IP whitelist",
        40243: "the app secret is frozen",
        41002: f"{appid} is missing",
        41004: f"{secret} is missing",
    }


class Misconfiguration:
    """Says each configuration error at ERROR once, until a success shows it fixed: a broken
    secret would otherwise log once per call, burying everything else."""

    def __init__(self, failing: str, waiting: str) -> None:
        # What fails and what waits: "WeChat gives no access token", "calls that need one wait".
        self._failing, self._waiting = failing, waiting
        self._reported: set[int] = set()

    def report(self, errcode: int, errmsg: str, problem: str) -> WeChatMisconfigured:
        """The exception to raise, said at ERROR the first time."""
        if errcode not in self._reported:
            self._reported.add(errcode)
            log.error(
                "%s: %s (%s %s); %s until fixed",
                self._failing,
                problem,
                errcode,
                errmsg,
                self._waiting,
            )
        return WeChatMisconfigured(f"{self._failing}: {problem} ({errcode})")

    def fixed(self) -> None:
        self._reported.clear()  # say it again should it break again


@dataclass(frozen=True)
class Lease:
    """A value WeChat hands out for a while, and until when it is used."""

    value: str
    good_until: datetime


def leased(answer: dict[str, Any], key: str, what: str) -> Lease:
    """The `key` of an answer with `expires_in` (a token, a ticket), used until `MARGIN` before
    it expires; WeChatUnavailable when the answer lacks either."""
    value, expires_in = answer.get(key), answer.get("expires_in")
    if not isinstance(value, str) or not value:
        raise WeChatUnavailable(f"WeChat's {what} answer has no {key}")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        raise WeChatUnavailable(f"WeChat's {what} answer has no expires_in")
    lifetime = timedelta(seconds=expires_in)
    # The docs promise expires_in >= 300 in normal mode; a short one is used for half its life.
    keep = lifetime - MARGIN if lifetime > 2 * MARGIN else lifetime / 2
    return Lease(value, clock.now() + keep)


class Kept:
    """A leased value kept until its time, and fetched once at a time: concurrent callers wait
    for the one fetch and share its value (or its failure) instead of each asking WeChat,
    whose token and ticket APIs have small daily quotas."""

    def __init__(self, fetch: Callable[[], Awaitable[Lease]]) -> None:
        self._fetch = fetch
        self._lease: Lease | None = None
        self._lock = asyncio.Lock()
        self._fetched = 0  # fetches finished, well or not
        self._failure: WeChatUnavailable | None = None  # how the last one failed

    async def current(self) -> str:
        lease = self._lease
        if lease is not None and clock.now() < lease.good_until:
            return lease.value
        fetched = self._fetched
        async with self._lock:
            lease = self._lease
            if lease is not None and clock.now() < lease.good_until:
                return lease.value  # fetched by another caller while this one waited
            failure = self._failure
            if self._fetched != fetched and failure is not None:
                # A fetch finished while this caller waited, and failed: its answer holds here
                # too, rather than every waiting caller asking a failing API in turn.
                raise type(failure)(*failure.args)
            try:
                self._lease = lease = await self._fetch()
            except WeChatUnavailable as failed:
                self._failure = failed
                raise
            finally:
                self._fetched += 1
            self._failure = None
            return lease.value

    def forget(self, value: str) -> None:
        """Drop this value, which WeChat refused. Only this one: another caller may already
        have put a fresh one in its place."""
        if self._lease is not None and self._lease.value == value:
            self._lease = None


class AccessTokens:
    """The app's access token, from getStableAccessToken. `setting_names` (of the app id and of
    the app secret) are what the operator is told to fix."""

    def __init__(
        self,
        appid: str,
        secret: str,
        http: httpx.AsyncClient,
        gateway: str = GATEWAY,
        *,
        setting_names: tuple[str, str] | None = None,
    ) -> None:
        self._http, self._gateway = http, gateway.rstrip("/")
        self._appid, self._secret = appid, secret
        self._config = config_errors(setting_names)
        self._misconfigured = Misconfiguration(
            "WeChat gives no access token", "calls that need one wait"
        )
        self._kept = Kept(self._fetch)

    async def current(self) -> str:
        """A token WeChat takes, as far as this instance knows. WeChatUnavailable (or
        WeChatMisconfigured) when there is none to have now."""
        return await self._kept.current()

    def forget(self, token: str) -> None:
        """Drop a token WeChat refused (`TOKEN_REJECTED`); the next `current()` fetches."""
        self._kept.forget(token)

    async def _fetch(self) -> Lease:
        # getStableAccessToken in its normal mode (force_refresh false), not the classic
        # GET /cgi-bin/token: each classic fetch invalidates the token fetched before it (five
        # minutes later), so several server and worker processes, each fetching its own, would
        # keep invalidating one another's tokens (40001). The stable API hands every caller
        # the same token while it is valid, so each process can keep its own copy. Its forced
        # mode would invalidate everyone's token (and is limited to 20 a day): never used here.
        answer = await post_json(
            self._http,
            f"{self._gateway}/cgi-bin/stable_token",
            {
                "grant_type": "client_credential",
                "appid": self._appid,
                "secret": self._secret,
                "force_refresh": False,
            },
        )
        code = errcode(answer)  # a success carries no errcode
        if code:
            errmsg = str(answer.get("errmsg", ""))
            if code in self._config:
                raise self._misconfigured.report(code, errmsg, self._config[code])
            log.warning("WeChat gives no access token: %s %s", code, errmsg)
            raise WeChatUnavailable(f"no access token: {code} {errmsg}")
        lease = leased(answer, "access_token", "token")
        self._misconfigured.fixed()
        return lease


def errcode(answer: dict[str, Any]) -> int:
    """The answer's errcode: 0 when it has none (a success), -1 when it is not a number."""
    code = answer.get("errcode", 0)
    return code if isinstance(code, int) and not isinstance(code, bool) else -1


async def post_json(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], params: dict[str, str] | None = None
) -> dict[str, Any]:
    """WeChat's JSON answer to a POST of `body`."""
    # UTF-8 as is: WeChat's global codes refuse \\uxxxx escapes on some APIs (40033).
    content = json.dumps(body, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    return await _answer(http.post(url, content=content, params=params, headers=headers))


async def get_json(http: httpx.AsyncClient, url: str, params: dict[str, str]) -> dict[str, Any]:
    """WeChat's JSON answer to a GET."""
    return await _answer(http.get(url, params=params))


async def _answer(sent: Awaitable[httpx.Response]) -> dict[str, Any]:
    # Anything but a JSON object is unclear, so tried again later. Messages never carry the
    # URL: its query holds the token or the secret.
    try:
        response = await sent
    except httpx.TimeoutException as slow:
        raise WeChatUnavailable(f"WeChat did not answer in time ({type(slow).__name__})") from None
    except httpx.RequestError as failed:
        raise WeChatUnavailable(f"WeChat unreachable ({type(failed).__name__}: {failed})") from None
    if response.status_code != 200:
        raise WeChatUnavailable(f"WeChat answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise WeChatUnavailable("WeChat answered something that is not JSON") from None
    if not isinstance(answer, dict):
        raise WeChatUnavailable("WeChat answered JSON that is not an object")
    return answer

"""Signing in with WeChat inside WeChat: an Official Account's web authorisation (网页授权), and
the JS-SDK signature (wx.config) for the pages it opens.

Web authorisation, OAuth 2.0 as WeChat runs it:
1. The browser goes to `authorize_url(…)`: `https://open.weixin.qq.com/connect/oauth2/authorize
   ?appid=…&redirect_uri=…&response_type=code&scope=…&state=…#wechat_redirect`. WeChat matches
   the link strictly: the parameters in this order, `redirect_uri` urlencoded, and
   `#wechat_redirect` ("无论直接打开还是做页面302重定向时候，必须带此参数"). `snsapi_base` is
   silent and gives the openid only; `snsapi_userinfo` asks the user, then gives the nickname
   and avatar too. `state` comes back as sent: "a-zA-Z0-9的参数值，最多128字节".
2. WeChat sends the browser to `redirect_uri?code=CODE&state=STATE`. A code works once, and for
   5 minutes ("code只能使用一次，5分钟未被使用自动过期").
3. `exchange(code)`: `GET /sns/oauth2/access_token?appid&secret&code&grant_type=
   authorization_code` gives a `WebGrant`: the openid, the scope, a web access token (not the
   app's access token: it reads this user's profile and nothing else), `unionid` with
   snsapi_userinfo when the account is bound to an Open Platform account, and
   `is_snapshotuser` 1 for the virtual account of a "snapshot page" (快照页), whose openid is
   not the user's.
4. `userinfo(grant)`: `GET /sns/userinfo?access_token&openid&lang` gives a `WeChatProfile`;
   only for snsapi_userinfo ("如果网页授权作用域为snsapi_userinfo，则此时开发者可以通过
   access_token和openid拉取用户信息"): for snsapi_base WeChat answers 48001.

Answers: 40029 (invalid code: unknown, expired, or another app's), 40163 (code been used),
41008 (missing code), and for a grant 40003 (invalid openid) or its token refused (40001,
40014, 42001): the user signs in again (`SignInAgain`). 48001 to userinfo: the grant's scope
does not allow it (`ScopeRefused`). The app's own credentials refused (40013, 40125, 41002,
41004, …) or 48001 to the exchange (no web authorisation permission): `WeChatMisconfigured`,
said at ERROR once. -1 (busy), quotas, timeouts, HTTP 5xx, garbage: `WeChatUnavailable`, try
again.

`state` guards the callback against cross-site requests: `make_state` signs the time and a
nonce kept in the browser's cookie; `check_state` refuses a forged one, an expired one, and one
made for another browser. HMAC-SHA256 in hex, rather than itsdangerous, whose separators and
base64 fall outside the a-zA-Z0-9 that WeChat allows in `state`.

JS-SDK: a page calls `wx.config({appId, timestamp, nonceStr, signature, …})`; `signature` is
the SHA-1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` (keys in ASCII order, values raw,
not URL-escaped; the page's URL without its `#…`). The jsapi_ticket comes from
`GET /cgi-bin/ticket/getticket?access_token=…&type=jsapi`, lasts 7200 s, and must be kept
("获取jsapi_ticket的api调用次数非常有限…开发者必须在自己的服务全局缓存jsapi_ticket").

WeChat's documentation relied on:
- web authorisation: https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html
- code for a web access token: https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken.html
- the user's profile: https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsuserinfo.html
- JS-SDK, 附录1 签名算法 and 附录5 常见错误: https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html
- getticket: https://developers.weixin.qq.com/doc/service/api/invoice/auth/api_getticket.html
- global return codes (40029, 40163, 41008, 48001, …): https://developers.weixin.qq.com/doc/oplatform/Return_codes/Return_code_descriptions_new.html
"""

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from pocketshop import clock
from pocketshop.wechat import (
    GATEWAY,
    TOKEN_REJECTED,
    AccessTokens,
    Kept,
    Lease,
    Misconfiguration,
    WeChatRefused,
    WeChatUnavailable,
    config_errors,
    errcode,
    get_json,
    leased,
)

log = logging.getLogger(__name__)

AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
LATER = {-1: "WeChat is busy", 45009: "daily quota used up", 45011: "per-minute quota hit"}
# Answers to the code exchange that a new sign-in cures: each authorisation makes a new code.
CODE_REFUSED = {
    40029: "the code is invalid or expired",
    40163: "the code was used already",
    41008: "no code was given",
}
# To the code exchange, 48001 means the account has no web authorisation permission.
NOT_PERMITTED = "the Official Account may not use web authorisation (48001 api unauthorized)"
# WeChat's only rule for state: "a-zA-Z0-9的参数值，最多128字节".
STATE_CHARACTERS = re.compile(r"[A-Za-z0-9]{0,128}")
STATE_MAX_AGE = timedelta(minutes=10)
_STATE = re.compile(r"([0-9a-f]{8})([0-9a-f]{64})")  # the issue time, the HMAC


class Scope(StrEnum):
    base = "snsapi_base"  # silent: the openid only
    userinfo = "snsapi_userinfo"  # the user consents: the nickname and avatar too


class SignInAgain(WeChatRefused):
    """WeChat will not take this code or grant (unknown, used, expired): signing in again makes
    a new one."""


class ScopeRefused(WeChatRefused):
    """The grant's scope does not allow the profile: ask for snsapi_userinfo."""


class StateRefused(Exception):
    """The callback's state is not one this browser's sign-in made, or is too old."""


@dataclass(frozen=True)
class WebGrant:
    """What a code is exchanged for. The tokens stay out of repr, so out of logs."""

    openid: str
    scope: str  # as WeChat says it ("snsapi_userinfo"); "" when it does not
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    unionid: str | None = None
    is_snapshotuser: bool = False  # a snapshot page's virtual account: not the user's openid


@dataclass(frozen=True)
class WeChatProfile:
    openid: str
    nickname: str
    headimgurl: str  # "" when the user has no avatar
    unionid: str | None = None


def authorize_url(appid: str, redirect_uri: str, scope: Scope | str, state: str) -> str:
    """Where the browser goes to authorise: the parameters in the order WeChat requires."""
    scope = Scope(scope)
    if STATE_CHARACTERS.fullmatch(state) is None:
        raise ValueError("state must be at most 128 letters and digits (a-zA-Z0-9)")
    query = urlencode(
        [
            ("appid", appid),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", scope.value),
            ("state", state),
        ],
        quote_via=quote,  # "%20", and "/" escaped too, as urlEncode does
    )
    return f"{AUTHORIZE}?{query}#wechat_redirect"


class WebAuthorization:
    """Codes into grants, grants into profiles, for one Official Account."""

    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        http: httpx.AsyncClient,
        gateway: str = GATEWAY,
        setting_names: tuple[str, str] | None = None,
    ) -> None:
        self.appid = appid
        self._secret, self._http = secret, http
        self._gateway = gateway.rstrip("/")
        self._config = config_errors(setting_names) | {48001: NOT_PERMITTED}
        self._misconfigured = Misconfiguration("WeChat signs nobody in", "sign-ins fail")

    def authorize_url(self, redirect_uri: str, scope: Scope | str, state: str) -> str:
        return authorize_url(self.appid, redirect_uri, scope, state)

    async def exchange(self, code: str) -> WebGrant:
        """The grant a code stands for. SignInAgain when WeChat refuses the code;
        WeChatUnavailable (or WeChatMisconfigured) when it cannot be asked now."""
        answer = await get_json(
            self._http,
            f"{self._gateway}/sns/oauth2/access_token",
            {
                "appid": self.appid,
                "secret": self._secret,
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        status = errcode(answer)
        if status in CODE_REFUSED:
            raise SignInAgain(f"WeChat {status}: {CODE_REFUSED[status]}")
        if status in self._config:
            errmsg = str(answer.get("errmsg", ""))
            raise self._misconfigured.report(status, errmsg, self._config[status])
        _check(answer, "code exchange")
        openid, token = _text(answer, "openid"), _text(answer, "access_token")
        expires_in = answer.get("expires_in")
        if not (openid and token and isinstance(expires_in, int)):
            raise WeChatUnavailable("WeChat's answer to a code has no openid or access_token")
        self._misconfigured.fixed()
        return WebGrant(
            openid=openid,
            scope=_text(answer, "scope"),
            access_token=token,
            refresh_token=_text(answer, "refresh_token"),
            expires_in=expires_in,
            unionid=_text(answer, "unionid") or None,
            is_snapshotuser=answer.get("is_snapshotuser") == 1,
        )

    async def userinfo(self, grant: WebGrant, lang: str = "zh_CN") -> WeChatProfile:
        """The user's nickname and avatar, for a snsapi_userinfo grant. ScopeRefused for a
        snsapi_base one; SignInAgain once the grant has expired."""
        answer = await get_json(
            self._http,
            f"{self._gateway}/sns/userinfo",
            {"access_token": grant.access_token, "openid": grant.openid, "lang": lang},
        )
        code = errcode(answer)
        if code == 48001:
            raise ScopeRefused(f"WeChat 48001: the grant's scope ({grant.scope}) has no profile")
        if code in TOKEN_REJECTED or code == 40003:
            raise SignInAgain(f"WeChat {code}: the grant is no longer valid")
        _check(answer, "profile request")
        return WeChatProfile(
            openid=grant.openid,  # the web token is this user's: its answer can be no one else's
            nickname=_text(answer, "nickname"),
            headimgurl=_text(answer, "headimgurl"),
            unionid=_text(answer, "unionid") or None,
        )


def _check(answer: dict[str, Any], what: str) -> None:
    """Raises WeChatUnavailable for the errcodes left after each call's own."""
    code = errcode(answer)
    if not code:
        return
    errmsg = str(answer.get("errmsg", ""))
    if code in LATER:
        raise WeChatUnavailable(f"WeChat {code}: {LATER[code]}")
    # Not one these APIs document: logged to be looked at, and "try again" to the user.
    log.warning("WeChat answered a %s with %s %s", what, code, errmsg)
    raise WeChatUnavailable(f"WeChat {code}: {errmsg}")


def _text(answer: dict[str, Any], key: str) -> str:
    value = answer.get(key)
    return value if isinstance(value, str) else ""


# state: against cross-site request forgery on the callback.


def new_nonce() -> str:
    """A browser's nonce, to keep in its cookie while it signs in."""
    return secrets.token_urlsafe(16)


def make_state(key: str | bytes, nonce: str) -> str:
    """A state for this browser's sign-in: its issue time and an HMAC binding it to the nonce,
    in hex (72 characters)."""
    if not nonce:
        raise ValueError("a state needs the browser's nonce")
    stamp = f"{int(clock.now().timestamp()):08x}"
    return stamp + _state_mac(key, stamp, nonce)


def check_state(
    key: str | bytes, state: str, nonce: str, max_age: timedelta = STATE_MAX_AGE
) -> None:
    """StateRefused unless `make_state(key, nonce)` made `state` within `max_age`."""
    found = _STATE.fullmatch(state)
    if found is None or not nonce:
        raise StateRefused("no state of a sign-in")
    stamp, mac = found.groups()
    if not hmac.compare_digest(mac, _state_mac(key, stamp, nonce)):
        raise StateRefused("the state is forged, or was made for another browser")
    # In whole seconds, as the stamp is.
    if int(clock.now().timestamp()) - int(stamp, 16) > max_age.total_seconds():
        raise StateRefused("the sign-in took too long")


def _state_mac(key: str | bytes, stamp: str, nonce: str) -> str:
    secret = key.encode() if isinstance(key, str) else key
    # The purpose first, so that no other HMAC made with this key can pass for a state.
    message = f"pocketshop.wechat.state\n{stamp}\n{nonce}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# JS-SDK.


class JsapiTickets:
    """The Official Account's jsapi_ticket, kept until shortly before it expires and fetched
    once at a time (the ticket API's daily quota is small). Asked again while a ticket is
    valid, WeChat gives the same one, and its `expires_in` is 7200 whatever its age."""

    def __init__(
        self, tokens: AccessTokens, http: httpx.AsyncClient, gateway: str = GATEWAY
    ) -> None:
        self._tokens, self._http = tokens, http
        self._gateway = gateway.rstrip("/")
        self._kept = Kept(self._fetch)
        self._seen: tuple[str, datetime] | None = None  # the last ticket, and when first had

    async def current(self) -> str:
        """A ticket to sign with. WeChatUnavailable when there is none to have now."""
        return await self._kept.current()

    async def _fetch(self) -> Lease:
        token = await self._tokens.current()
        answer = await self._ask(token)
        if errcode(answer) in TOKEN_REJECTED:
            # The access token was revoked or expired early: drop it, get the one WeChat holds
            # now, and try once more.
            self._tokens.forget(token)
            answer = await self._ask(await self._tokens.current())
            if errcode(answer) in TOKEN_REJECTED:
                raise WeChatUnavailable(
                    f"WeChat refused a fresh access token too ({errcode(answer)})"
                )
        _check(answer, "jsapi_ticket request")
        lease, now = leased(answer, "ticket", "ticket"), clock.now()
        if self._seen is None or self._seen[0] != lease.value:
            self._seen = (lease.value, now)
            return lease
        # The same ticket again, asked for in its last minutes: WeChat answers "expires_in":
        # 7200 however old it is, so its life counts from when this instance first had it,
        # and it is used to its end (WeChat has no newer one yet).
        ends = self._seen[1] + timedelta(seconds=answer["expires_in"])
        if now < ends:
            return Lease(lease.value, ends)
        self._seen = (lease.value, now)  # older than its 7200 s, yet WeChat hands it out
        return lease

    async def _ask(self, token: str) -> dict[str, Any]:
        return await get_json(
            self._http,
            f"{self._gateway}/cgi-bin/ticket/getticket",
            {"access_token": token, "type": "jsapi"},
        )


def jsapi_signature(ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    """附录1: SHA-1 of the fields in ASCII order of their names, as key=value joined by "&",
    values raw (not URL-escaped); the URL is the page's, without "#" and what follows."""
    fields = {
        "jsapi_ticket": ticket,
        "noncestr": noncestr,
        "timestamp": str(timestamp),
        "url": url.split("#", 1)[0],
    }
    string1 = "&".join(f"{name}={fields[name]}" for name in sorted(fields))
    # SHA-1 because the protocol says so; WeChat's JS checks this exact digest.
    return hashlib.sha1(string1.encode(), usedforsecurity=False).hexdigest()


def wx_config(
    appid: str, ticket: str, url: str, noncestr: str, timestamp: int
) -> dict[str, str | int]:
    """What the page passes to wx.config (with its jsApiList): the same nonceStr and timestamp
    as signed ("签名用的noncestr和timestamp必须与wx.config中的nonceStr和timestamp相同")."""
    return {
        "appId": appid,
        "timestamp": timestamp,
        "nonceStr": noncestr,
        "signature": jsapi_signature(ticket, noncestr, timestamp, url),
    }


# What a server signs buyers in with, made once from its settings.


@dataclass(frozen=True)
class WeChatSignIn:
    """The Official Account's web authorisation and jsapi_tickets, on a client of their own."""

    appid: str
    oauth: WebAuthorization
    tickets: JsapiTickets
    http: httpx.AsyncClient


SETTING_NAMES = ("POCKETSHOP_WECHAT_MP_APP_ID", "POCKETSHOP_WECHAT_MP_APP_SECRET")


def sign_in_with(
    appid: str, secret: str, http: httpx.AsyncClient, gateway: str = GATEWAY
) -> WeChatSignIn:
    tokens = AccessTokens(appid, secret, http, gateway, setting_names=SETTING_NAMES)
    return WeChatSignIn(
        appid=appid,
        oauth=WebAuthorization(
            appid=appid, secret=secret, http=http, gateway=gateway, setting_names=SETTING_NAMES
        ),
        tickets=JsapiTickets(tokens, http, gateway),
        http=http,
    )

"""A local fake of an Official Account's (公众号) web authorisation and JS-SDK, as an
`httpx.MockTransport` handler: no network. Written from WeChat's documentation, not from our
adapter (which it never imports), so that the adapter's tests check the adapter against the
protocol. The token API (`/cgi-bin/stable_token`, `/cgi-bin/token`) is the mini program fake's
(`tests.notifications.fake_wechat`), which this one extends:

- the authorisation page, `https://open.weixin.qq.com/connect/oauth2/authorize?appid=…&
  redirect_uri=…&response_type=code&scope=…&state=…#wechat_redirect`, is a browser page: here
  `approve(url, openid)` plays the user agreeing and returns where WeChat sends the browser,
  `redirect_uri?code=CODE&state=STATE`; the checks on the link and the page's errors (10003
  redirect_uri not in the configured domain, 10005 no such scope, …), the codes ("code只能使用
  一次，5分钟未被使用自动过期"): https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html;
- `GET /sns/oauth2/access_token`: https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken.html;
- `GET /sns/userinfo`: https://developers.weixin.qq.com/doc/service/api/webdev/access/api_snsuserinfo.html
  ("如果网页授权作用域为snsapi_userinfo，则此时开发者可以通过access_token和openid拉取用户信息");
- `GET /cgi-bin/ticket/getticket?access_token=…&type=jsapi` ("有效期7200秒"), and what wx.config
  checks (附录1 签名算法, 附录5 invalid signature / invalid url domain):
  https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html,
  https://developers.weixin.qq.com/doc/service/api/invoice/auth/api_getticket.html;
- errcodes: https://developers.weixin.qq.com/doc/oplatform/Return_codes/Return_code_descriptions_new.html
  (40029 invalid code, 40163 code been used, 41008 missing code, 48001 api unauthorized, …).

Where the docs leave something open, the comment says what the fake assumes.
Time is `pocketshop.clock`: tests move it instead of sleeping.
"""

import asyncio
import hashlib
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit

import httpx

from pocketshop import clock
from tests.notifications.fake_wechat import ERRMSG, Call, Failure, FakeWeChat

APPID = "wx8a7b6c5d4e3f2a1b"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
DOMAIN = "shop.example.com"  # the account's 网页授权域名 and JS接口安全域名
CODE_LIFETIME = timedelta(minutes=5)  # "5分钟未被使用自动过期"
WEB_TOKEN_LIFETIME = timedelta(seconds=7200)  # the docs' example answer: "expires_in":7200
TICKET_LIFETIME = timedelta(seconds=7200)  # "jsapi_ticket的有效期为7200秒"
# The docs give the link in this order and warn that WeChat matches it strictly: in another
# order the page does not open (paraphrased: the passage could not be re-read here). state is
# optional ("state 否").
ORDER = ["appid", "redirect_uri", "response_type", "scope", "state"]
SCOPES = ("snsapi_base", "snsapi_userinfo")

API = Literal["oauth", "userinfo", "ticket", "send", "token"]

MESSAGES = ERRMSG | {
    40029: "invalid code",
    40163: "code been used",
    41008: "missing code",
    41009: "missing openid",
    43001: "require GET method",
    48001: "api unauthorized",
}


class AuthorizePageError(Exception):
    """What the authorisation page shows instead of redirecting: its error number, when the
    docs give one (10003 "redirect_uri域名与后台配置不一致", 10005 "此公众号并没有这些scope的权限",
    …), and why."""

    def __init__(self, number: int | None, why: str) -> None:
        super().__init__(f"{number or 'page error'}: {why}")
        self.number = number


@dataclass(frozen=True)
class Profile:
    """A WeChat user as this account's web authorisation sees them."""

    openid: str
    nickname: str
    headimgurl: str = ""
    unionid: str | None = None  # only with the account bound to an Open Platform account


@dataclass
class _Code:
    openid: str
    scope: str
    issued: datetime
    snapshot: bool
    used: bool = False


@dataclass(frozen=True)
class _WebToken:
    openid: str
    scope: str
    expires: datetime


def _error(errcode: int) -> httpx.Response:
    # rid is what WeChat appends for its support to trace a call.
    message = MESSAGES.get(errcode, "error")
    return httpx.Response(200, json={"errcode": errcode, "errmsg": f"{message} rid: fake"})


def signature(ticket: str, noncestr: str, timestamp: str, url: str) -> str:
    """附录1: "对所有待签名参数按照字段名的ASCII 码从小到大排序（字典序）后，使用URL键值对的格式
    （即key1=value1&key2=value2…）拼接成字符串string1 … 字段名和字段值都采用原始值，不进行URL
    转义", then "signature=sha1(string1)"; the url "不包含#及其后面部分"."""
    string1 = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(string1.encode(), usedforsecurity=False).hexdigest()


class FakeOfficialAccount(FakeWeChat):
    """One Official Account's web authorisation and JS-SDK ticket, with its token API."""

    def __init__(self, appid: str = APPID, secret: str = SECRET, domain: str = DOMAIN) -> None:
        super().__init__(appid, secret)
        self.domain = domain
        self.profiles: dict[str, Profile] = {}
        self.ticket_delay = 0.0  # seconds each ticket answer takes (to let fetches overlap)
        self._codes: dict[str, _Code] = {}
        self._web_tokens: dict[str, _WebToken] = {}
        self._tickets: dict[str, datetime] = {}  # every jsapi_ticket issued -> its expiry
        self._ticket: str | None = None  # the current one
        self._mp_failures: dict[str, deque[Failure]] = {
            "oauth": deque(),
            "userinfo": deque(),
            "ticket": deque(),
        }
        self._routes: dict[str, tuple[str, Callable[[dict[str, str]], httpx.Response]]] = {
            "/sns/oauth2/access_token": ("oauth", self._exchange),
            "/sns/userinfo": ("userinfo", self._userinfo),
            "/cgi-bin/ticket/getticket": ("ticket", self._getticket),
        }

    # Set-up and control, for tests.

    def add_user(
        self, openid: str, nickname: str, headimgurl: str = "", unionid: str | None = None
    ) -> None:
        self.profiles[openid] = Profile(openid, nickname, headimgurl, unionid)

    def fail_next(self, api: API, *outcomes: Failure) -> None:
        """The next calls to an API answer these instead: an errcode (HTTP 200 with it, as
        WeChat answers), HTTP 500, a timeout, a refused connection."""
        if api == "send" or api == "token":
            super().fail_next(api, *outcomes)
        else:
            self._mp_failures[api].extend(outcomes)

    def calls_to(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    def approve(self, url: str, openid: str, *, snapshot: bool = False) -> str:
        """The user opens the authorisation link in WeChat and agrees (snsapi_base needs no
        agreeing: "静默授权并自动跳转到回调页"). Where WeChat sends the browser, or
        AuthorizePageError as the page would show. `snapshot`: the user is on a snapshot page
        (快照页), whose account is virtual."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc, parts.path) != (
            "https",
            "open.weixin.qq.com",
            "/connect/oauth2/authorize",
        ):
            raise AuthorizePageError(None, "not the authorisation page")
        if parts.fragment != "wechat_redirect":
            raise AuthorizePageError(None, "#wechat_redirect missing (必须带此参数)")
        raw = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        names = [pair.split("=", 1)[0] for pair in parts.query.split("&")]
        if names not in (ORDER, ORDER[:-1]):
            raise AuthorizePageError(None, f"parameters out of order or unknown: {names}")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if not query["appid"]:
            raise AuthorizePageError(10012, "appid不能为空")
        if query["appid"] != self.appid:
            raise AuthorizePageError(None, "no such Official Account")
        # "请使用 urlEncode 对链接进行处理": assumed refused when the link is left raw.
        if not raw["redirect_uri"]:
            raise AuthorizePageError(10011, "redirect_uri不能为空")
        if set(raw["redirect_uri"]) & set(":/?#&="):
            raise AuthorizePageError(None, "redirect_uri is not urlencoded")
        redirect = unquote(raw["redirect_uri"])
        if urlsplit(redirect).hostname != self.domain:
            raise AuthorizePageError(10003, "redirect_uri域名与后台配置不一致")
        if query["response_type"] != "code":
            raise AuthorizePageError(None, "response_type must be code (请填写code)")
        if not query["scope"]:
            raise AuthorizePageError(10010, "scope不能为空")
        if query["scope"] not in SCOPES:
            raise AuthorizePageError(10005, "此公众号并没有这些scope的权限")
        state = query.get("state", "")
        # "a-zA-Z0-9的参数值，最多128字节": assumed refused otherwise.
        if re.fullmatch(r"[A-Za-z0-9]{0,128}", state) is None:
            raise AuthorizePageError(None, "state must be a-zA-Z0-9, at most 128 bytes")
        assert openid in self.profiles, f"add_user({openid!r}) first"
        code = secrets.token_hex(16)  # each authorisation gives a different code
        self._codes[code] = _Code(openid, query["scope"], clock.now(), snapshot)
        joiner = "&" if "?" in redirect else "?"
        return f"{redirect}{joiner}{urlencode({'code': code, 'state': state})}"

    def check_wx_config(self, config: dict[str, Any], page_url: str) -> str:
        """What wx.config says on the page at `page_url` given this config: "config:ok", or the
        errMsg 附录5 lists ("invalid signature", "invalid url domain")."""
        if config.get("appId") != self.appid:
            return "config:invalid signature"  # signed for another account
        if urlsplit(page_url).hostname != self.domain:
            return "config:invalid url domain"  # not the JS接口安全域名
        url = page_url.split("#")[0]
        now = clock.now()
        signatures = {
            signature(ticket, str(config.get("nonceStr")), str(config.get("timestamp")), url)
            for ticket, expires in self._tickets.items()
            if now < expires
        }
        return "config:ok" if config.get("signature") in signatures else "config:invalid signature"

    # The API.

    async def handle(self, request: httpx.Request) -> httpx.Response:
        route = self._routes.get(request.url.path)
        if route is None:
            return await super().handle(request)  # the token and message APIs
        api, answer = route
        pairs = parse_qs(request.url.query.decode(), keep_blank_values=True)
        query = {name: values[0] for name, values in pairs.items()}
        self.calls.append(Call(request.method, request.url.path, query, None))
        if api == "ticket" and self.ticket_delay:
            await asyncio.sleep(self.ticket_delay)
        if self._mp_failures[api]:
            failure = self._mp_failures[api].popleft()
            if failure == "http500":
                return httpx.Response(500, text="Internal Server Error")
            if failure == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if failure == "connect":
                raise httpx.ConnectError("connection refused", request=request)
            return _error(failure)
        if request.method != "GET":  # all three are "GET https://api.weixin.qq.com/…"
            return _error(43001)
        return answer(query)

    def _exchange(self, query: dict[str, str]) -> httpx.Response:
        # grant_type: "填写为 authorization_code". Assumed answered like the token API's.
        if query.get("grant_type") != "authorization_code":
            return _error(40002)
        if not query.get("appid"):
            return _error(41002)
        if query["appid"] != self.appid:
            return _error(40013)
        if not query.get("secret"):
            return _error(41004)
        if query["secret"] != self.secret:
            return _error(40125)
        code = query.get("code")
        if not code:
            return _error(41008)
        grant = self._codes.get(code)
        if grant is None:
            return _error(40029)  # never issued, or for another account
        if grant.used:
            return _error(40163)
        if clock.now() - grant.issued >= CODE_LIFETIME:
            return _error(40029)  # expired: "invalid code" as WeChat's forum staff answer
        grant.used = True
        token = "web_" + secrets.token_urlsafe(48)
        self._web_tokens[token] = _WebToken(
            grant.openid, grant.scope, clock.now() + WEB_TOKEN_LIFETIME
        )
        answer: dict[str, Any] = {
            "access_token": token,
            "expires_in": int(WEB_TOKEN_LIFETIME.total_seconds()),
            "refresh_token": "refresh_" + secrets.token_urlsafe(48),
            "openid": grant.openid,
            "scope": grant.scope,
        }
        # unionid: 'only returned if the scope is "snsapi_userinfo"'.
        unionid = self.profiles[grant.openid].unionid
        if grant.scope == "snsapi_userinfo" and unionid is not None:
            answer["unionid"] = unionid
        if grant.snapshot:
            answer["is_snapshotuser"] = 1  # "只有当用户是快照页模式虚拟账号时返回，值为1"
        return httpx.Response(200, json=answer)

    def _userinfo(self, query: dict[str, str]) -> httpx.Response:
        token = query.get("access_token")
        if not token:
            return _error(41001)
        if not query.get("openid"):
            return _error(41009)
        grant = self._web_tokens.get(token)
        if grant is None:
            return _error(40001)
        if clock.now() >= grant.expires:
            return _error(42001)
        if query["openid"] != grant.openid:
            return _error(40003)
        if grant.scope != "snsapi_userinfo":
            return _error(48001)  # snsapi_base: "只能获取用户openid"
        # lang: "zh_CN 简体，zh_TW 繁体，en 英语"; the docs name no errcode for others: 40035.
        if query.get("lang", "zh_CN") not in ("zh_CN", "zh_TW", "en"):
            return _error(40035)
        profile = self.profiles[grant.openid]
        answer: dict[str, Any] = {
            "openid": profile.openid,
            "nickname": profile.nickname,
            # Sex and place are no longer given (WeChat's 2021 notice): their defaults.
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": profile.headimgurl,
            "privilege": [],
        }
        if profile.unionid is not None:
            answer["unionid"] = profile.unionid
        return httpx.Response(200, json=answer)

    def _getticket(self, query: dict[str, str]) -> httpx.Response:
        token = query.get("access_token")
        if not token:
            return _error(41001)
        if token not in self._tokens:
            return _error(40001)  # never issued, or revoked
        if clock.now() >= self._tokens[token]:
            return _error(40001 if token in self._superseded else 42001)
        # type: "jsapi 为 js-sdk 凭证；wx_card 为微信卡券凭证"; no errcode named for others.
        if query.get("type") != "jsapi":
            return _error(40035)
        now = clock.now()
        if self._ticket is None or now >= self._tickets[self._ticket]:
            self._ticket = "ticket_" + secrets.token_urlsafe(48)
            self._tickets[self._ticket] = now + TICKET_LIFETIME
        # Assumed, as WeChat's forum reports and the docs do not deny: asked again while it is
        # valid, the same ticket, and always "expires_in":7200.
        return httpx.Response(
            200,
            json={"errcode": 0, "errmsg": "ok", "ticket": self._ticket, "expires_in": 7200},
        )

    @property
    def ticket_fetches(self) -> int:
        return len(self.calls_to("/cgi-bin/ticket/getticket"))

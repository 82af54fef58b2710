"""A local fake of WeChat's server API for subscription messages, as an `httpx.MockTransport`
handler: no network. Written from WeChat's documentation, not from our adapter (which it never
imports), so that the adapter's tests check the adapter against the protocol:

- getStableAccessToken, `POST /cgi-bin/stable_token` (JSON body), and getAccessToken,
  `GET /cgi-bin/token` (query string): https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-access-token/getStableAccessToken.html,
  https://developers.weixin.qq.com/doc/oplatform/developers/dev/AccessToken.html;
- subscribeMessage.send, `POST /cgi-bin/message/subscribe/send?access_token=…`, its errcodes and
  its table of value rules per key type ("订阅消息参数值内容限制说明"):
  https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html;
- one-time subscriptions (one message per subscription) and long-term ones:
  https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message-overview.html;
- common errcodes and their errmsg: https://developers.weixin.qq.com/doc/channels/API/basics/commErrCode.html.

Where the docs leave something open, the comment says what the fake assumes.
Time is `pocketshop.clock`: tests move it instead of sleeping.
"""

import asyncio
import json
import re
import secrets
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx

from pocketshop import clock

APPID = "wx5f0c1a2b3c4d5e6f"
SECRET = "9d1c3f5a7b9e0d2c4f6a8b0c2e4f6a8b"
LIFETIME = timedelta(seconds=7200)  # "token 有效期为 7200 秒"
# "普通模式下平台会提前 5 分钟更新 access_token";
# "平台会保证在 5 分钟内,新旧 access_token 都可用".
OVERLAP = timedelta(minutes=5)
FORCED_GAP = timedelta(seconds=30)  # "强制刷新模式每天限用 20 次且需间隔 30 秒"
FORCED_PER_DAY = 20

Failure = int | Literal["http500", "timeout", "connect"]
API = Literal["send", "token"]

# errmsg as WeChat writes them (common error codes page, and answers quoted on WeChat's forum).
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40014: "invalid access_token",
    40035: "invalid args",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40164: "invalid ip 203.0.113.7, not in whitelist",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41030: "invalid page",
    42001: "access_token expired",
    43002: "require POST method",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit must slower retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # the parsed JSON body, None when there was none or it was not JSON


@dataclass
class Template:
    """A template as the mini program's admin chose it: its keys (`thing3`, ...), and for its
    enum keys the values allowed ("只能上传枚举值范围内的字段值")."""

    keys: tuple[str, ...]
    enums: dict[str, frozenset[str]] = field(default_factory=dict)


def _json_object(raw: bytes) -> dict[str, Any] | httpx.Response:
    """The JSON object a POST carries, or WeChat's answer when it is empty or not one."""
    if not raw:
        return _answer(44002)
    try:
        body = json.loads(raw)
    except ValueError:
        return _answer(47001)
    return body if isinstance(body, dict) else _answer(47001)


def _answer(errcode: int, detail: str = "") -> httpx.Response:
    errmsg = ERRMSG.get(errcode, "error") + (f" {detail}" if detail else "")
    # rid is what WeChat appends for its support to trace a call.
    return httpx.Response(200, json={"errcode": errcode, "errmsg": f"{errmsg} rid: fake"})


class FakeWeChat:
    """WeChat's token and subscription-message APIs for one mini program."""

    def __init__(self, appid: str = APPID, secret: str = SECRET) -> None:
        self.appid, self.secret = appid, secret
        self.templates: dict[str, Template] = {}
        self.users: set[str] = set()  # openids of this mini program's users
        # (openid, template_id) -> messages left: one per one-time subscription ("用户自主订阅后,
        # 开发者可不限时间地下发一条对应的服务消息"), None for a long-term one.
        self.subscriptions: dict[tuple[str, str], int | None] = {}
        self.pages: set[str] | None = None  # the live version's app.json pages; None: any page
        self.whitelisted = True  # this caller's IP is on the app's IP whitelist
        self.token_delay = 0.0  # seconds each token answer takes (to let sends overlap)
        self.calls: list[Call] = []
        self.accepted: list[dict[str, Any]] = []  # bodies of messages WeChat took
        self._tokens: dict[str, datetime] = {}  # every valid token -> its expiry
        self._stable: str | None = None  # the stable API's current token
        self._classic: str | None = None  # the classic API's current token
        self._superseded: set[str] = set()  # classic tokens a later fetch replaced
        self._forced: list[datetime] = []
        self._failures: dict[str, deque[Failure]] = {"send": deque(), "token": deque()}

    # Set-up and control, for tests.

    def add_template(
        self, template_id: str, *keys: str, enums: dict[str, frozenset[str]] | None = None
    ) -> None:
        self.templates[template_id] = Template(tuple(keys), dict(enums or {}))

    def subscribe(self, openid: str, template_id: str, times: int | None = None) -> None:
        """The user accepts the template: `times` one-time subscriptions, or long-term."""
        self.users.add(openid)
        left = self.subscriptions.get((openid, template_id), 0)
        self.subscriptions[(openid, template_id)] = (
            None if times is None or left is None else left + times
        )

    def fail_next(self, api: API, *outcomes: Failure) -> None:
        """The next calls to the send API or to either token API answer these instead: an
        errcode (HTTP 200 with it, as WeChat answers), HTTP 500, a timeout, a refused
        connection."""
        self._failures[api].extend(outcomes)

    def revoke_tokens(self) -> None:
        """Every token stops working at once (someone forced a refresh, or reset the secret)."""
        self._tokens.clear()
        self._superseded.clear()
        self._stable = self._classic = None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @property
    def token_fetches(self) -> int:
        return sum(
            1 for call in self.calls if call.path in ("/cgi-bin/stable_token", "/cgi-bin/token")
        )

    @property
    def sends(self) -> list[Call]:
        return [call for call in self.calls if call.path == "/cgi-bin/message/subscribe/send"]

    # The API.

    async def handle(self, request: httpx.Request) -> httpx.Response:
        query = {name: values[0] for name, values in parse_qs(request.url.query.decode()).items()}
        raw = request.content
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.calls.append(Call(request.method, request.url.path, query, body))
        routes = {
            "/cgi-bin/stable_token": ("token", self._stable_token),
            "/cgi-bin/token": ("token", self._classic_token),
            "/cgi-bin/message/subscribe/send": ("send", self._send),
        }
        if request.url.path not in routes:
            return httpx.Response(404)
        api, route = routes[request.url.path]
        if api == "token" and self.token_delay:
            await asyncio.sleep(self.token_delay)
        if self._failures[api]:
            failure = self._failures[api].popleft()
            if failure == "http500":
                return httpx.Response(500, text="Internal Server Error")
            if failure == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if failure == "connect":
                raise httpx.ConnectError("connection refused", request=request)
            return _answer(failure)
        return route(request, query, raw)

    def _credentials(self, grant_type: Any, appid: Any, secret: Any) -> httpx.Response | None:
        """The token APIs' checks: grant_type "填写 client_credential", the AppID, the
        AppSecret, and the caller's IP on the whitelist (40164)."""
        if grant_type != "client_credential":
            return _answer(40002)
        if not appid:
            return _answer(41002)
        if appid != self.appid:
            return _answer(40013)
        if not secret:
            return _answer(41004)
        if secret != self.secret:
            return _answer(40125)
        if not self.whitelisted:
            return _answer(40164)
        return None

    def _issue(self) -> str:
        # "access_token 的存储至少要保留 512 个字符空间": ours are shorter, but opaque.
        token = "fake_" + secrets.token_urlsafe(48)
        self._tokens[token] = clock.now() + LIFETIME
        return token

    def _valid(self, token: str | None) -> bool:
        return token is not None and token in self._tokens and clock.now() < self._tokens[token]

    def _token_answer(self, token: str) -> httpx.Response:
        left = int((self._tokens[token] - clock.now()).total_seconds())
        return httpx.Response(200, json={"access_token": token, "expires_in": left})

    def _stable_token(
        self, request: httpx.Request, query: dict[str, str], raw: bytes
    ) -> httpx.Response:
        # "该接口仅支持 POST JSON 形式的调用"
        if request.method != "POST":
            return _answer(43002)
        body = _json_object(raw)
        if isinstance(body, httpx.Response):
            return body
        refused = self._credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))
        if refused is not None:
            return refused
        force = body.get("force_refresh", False)  # "默认使用 false"
        if not isinstance(force, bool):
            return _answer(40035)
        now = clock.now()
        if force:
            # "会导致上次获取的 access_token 失效" — but "连续使用该模式时,请保证调用时间隔至少为
            # 30s,否则不会刷新", and at most 20 a day.
            if self._forced and now - self._forced[-1] < FORCED_GAP and self._valid(self._stable):
                assert self._stable is not None
                return self._token_answer(self._stable)
            if sum(1 for at in self._forced if now - at < timedelta(days=1)) >= FORCED_PER_DAY:
                return _answer(45009)
            self._forced.append(now)
            if self._stable is not None:
                self._tokens.pop(self._stable, None)
            self._stable = self._issue()
            return self._token_answer(self._stable)
        # Normal mode: "access_token 有效期内重复调用该接口不会更新 access_token", except that
        # "在有效期倒计时 5 分钟内发起调用会获取新的 access_token" (the old one still works to
        # its end) — so any answer is good for at least 5 minutes ("expires_in >= 300").
        if self._valid(self._stable):
            assert self._stable is not None
            if self._tokens[self._stable] - now > OVERLAP:
                return self._token_answer(self._stable)
        self._stable = self._issue()
        return self._token_answer(self._stable)

    def _classic_token(
        self, request: httpx.Request, query: dict[str, str], raw: bytes
    ) -> httpx.Response:
        refused = self._credentials(
            query.get("grant_type"), query.get("appid"), query.get("secret")
        )
        if refused is not None:
            return refused
        # "重复获取将导致上次获取的 access_token 失效" — after "5分钟内,新老 access_token 都可用".
        # Isolated from the stable API: "与 getAccessToken 获取的调用凭证完全隔离,互不影响".
        if self._valid(self._classic):
            assert self._classic is not None
            self._tokens[self._classic] = min(self._tokens[self._classic], clock.now() + OVERLAP)
            self._superseded.add(self._classic)
        self._classic = self._issue()
        return self._token_answer(self._classic)

    def _send(self, request: httpx.Request, query: dict[str, str], raw: bytes) -> httpx.Response:
        if request.method != "POST":
            return _answer(43002)
        token = query.get("access_token")
        if not token:
            return _answer(41001)
        if token not in self._tokens:
            return _answer(40001)  # never issued, or revoked: "invalid or not latest"
        if clock.now() >= self._tokens[token]:
            # Replaced by a later classic fetch: "invalid or not latest"; else it ran out.
            return _answer(40001 if token in self._superseded else 42001)
        body = _json_object(raw)
        if isinstance(body, httpx.Response):
            return body
        # "miniprogram_state: developer为开发版;trial为体验版;formal为正式版"; "lang 支持 zh_CN,
        # en_US, zh_HK, zh_TW". The docs name no errcode for others: 40035 (invalid args).
        if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
            return _answer(40035)
        if body.get("lang", "zh_CN") not in ("zh_CN", "en_US", "zh_HK", "zh_TW"):
            return _answer(40035)
        openid = body.get("touser")
        # 40003: "touser 字段 openid 为空或者不正确"
        if not isinstance(openid, str) or openid not in self.users:
            return _answer(40003)
        template_id = body.get("template_id")
        # 40037: "订阅模板 id 为空不正确"
        if not isinstance(template_id, str) or template_id not in self.templates:
            return _answer(40037)
        page = body.get("page")
        # 41030: "page 路径不正确,需要保证在现网版本小程序中存在,与 app.json 保持一致"; the
        # query part ("支持带参数,(示例 index?foo=bar)") is not part of the path. Assumed: a
        # leading "/" is allowed (app.json lists paths without it).
        if page is not None:
            if not isinstance(page, str):
                return _answer(41030)
            if self.pages is not None and page.split("?")[0].lstrip("/") not in self.pages:
                return _answer(41030)
        wrong = self._wrong_data(self.templates[template_id], body.get("data"))
        if wrong is not None:
            return _answer(47003, wrong)  # "errmsg 会提示具体是哪个字段出错"
        # 43101: "用户拒绝接受消息,如果用户之前曾经订阅过,则表示用户取消了订阅关系"
        left = self.subscriptions.get((openid, template_id), 0)
        if left is not None and left <= 0:
            return _answer(43101)
        if left is not None:
            self.subscriptions[(openid, template_id)] = left - 1
        self.accepted.append(body)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": len(self.accepted)})

    def _wrong_data(self, template: Template, data: Any) -> str | None:
        """What 47003 names: "模板参数不准确,可能为空或者不满足规则". Keys the template does
        not have are ignored (the docs do not say; WeChat reports only its own keys)."""
        if not isinstance(data, dict):
            return "data is empty"
        for key in template.keys:
            item = data.get(key)
            value = item.get("value") if isinstance(item, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)  # "value": any — numbers are taken as written
            if not isinstance(value, str) or not value.strip():
                return f"data.{key}.value is empty"
            kind = re.fullmatch(r"([a-z_]+?)\d+", key)
            assert kind is not None, f"template key {key} has no type"
            if not follows_rule(kind.group(1), value, template.enums.get(key)):
                return f"data.{key}.value invalid"
        return None


# The rules, from the table "订阅消息参数值内容限制说明" (参数类别 | 参数值限制 | 说明).


def _han(char: str) -> bool:
    # 汉字: the CJK Unified Ideographs and extension A.
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _digit(char: str) -> bool:
    return char in "0123456789"


def _letter(char: str) -> bool:
    # 字母: assumed Latin letters (the docs set them apart from 汉字).
    return char.isascii() and char.isalpha()


def _symbol(char: str) -> bool:
    # 符号: assumed any punctuation or symbol character (Unicode P* and S*).
    return unicodedata.category(char)[0] in "PS"


# 24小时制时间格式(支持+年月日) / 年月日格式(支持+24小时制时间), e.g. "15:01", "2019年10月1日",
# "2019年10月1日 15:01"; "支持填时间段,两个时间点之间用"~"符号连接". Assumed also: the dashed and
# slashed dates ("2019-10-01 15:01") that WeChat's own SDK samples and developers send.
_DATE = r"\d{4}(?:年\d{1,2}月\d{1,2}日|-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2})"
_CLOCK = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_TIME_POINT = re.compile(rf"(?:{_DATE} ?)?{_CLOCK}")
_DATE_POINT = re.compile(rf"{_DATE}(?: ?{_CLOCK})?")


def _points(value: str, point: re.Pattern[str]) -> bool:
    parts = [part.strip() for part in value.split("~")]
    return len(parts) <= 2 and all(point.fullmatch(part) for part in parts)


def _amount(value: str) -> bool:
    # 1个币种符号+10位以内纯数字,可带小数,结尾可带"元". Assumed: "10位" counts the digits
    # before the decimal point.
    found = re.fullmatch(r"(.)(\d{1,10})(?:\.\d+)?元?", value)
    return found is not None and unicodedata.category(found.group(1)) == "Sc"


def _name(value: str) -> bool:
    # 10个以内纯汉字或20个以内纯字母或符号; "中文和字母混合按中文名算,10个字内". Assumed: a space
    # counts as a symbol in a Latin name ("John Smith").
    if not all(_han(c) or _letter(c) or _symbol(c) or c == " " for c in value):
        return False
    return len(value) <= (10 if any(_han(c) for c in value) else 20)


def _car_number(value: str) -> bool:
    # 8位以内,第一位与最后一位可为汉字,其余为字母或数字 ("粤A8Z888挂").
    if len(value) > 8:
        return False
    middle = value[1:-1] if len(value) > 2 else ""
    ends = value[0] + (value[-1] if len(value) > 1 else "")
    return all(_letter(c) or _digit(c) for c in middle) and all(
        _han(c) or _letter(c) or _digit(c) for c in ends
    )


def follows_rule(kind: str, value: str, enum: frozenset[str] | None = None) -> bool:
    """Whether `value` is allowed in a key of this type."""
    match kind:
        case "thing":  # 20个以内字符, 可汉字、数字、字母或符号组合
            return len(value) <= 20
        case "number":  # 32位以内数字, 只能数字,可带小数
            found = re.fullmatch(r"(\d+)(?:\.(\d+))?", value)
            return found is not None and len(value.replace(".", "")) <= 32
        case "letter":  # 32位以内字母, 只能字母
            return len(value) <= 32 and all(_letter(c) for c in value)
        case "symbol":  # 5位以内符号, 只能符号
            return len(value) <= 5 and all(_symbol(c) for c in value)
        case "character_string":  # 32位以内数字、字母或符号
            return len(value) <= 32 and all(_digit(c) or _letter(c) or _symbol(c) for c in value)
        case "time":
            return _points(value, _TIME_POINT)
        case "date":
            return _points(value, _DATE_POINT)
        case "amount":
            return _amount(value)
        case "phone_number":  # 17位以内,数字、符号 ("+86-0766-66888866")
            return len(value) <= 17 and all(_digit(c) or _symbol(c) for c in value)
        case "car_number":
            return _car_number(value)
        case "name":
            return _name(value)
        case "phrase":  # 5个以内纯汉字 ("配送中")
            return len(value) <= 5 and all(_han(c) for c in value)
        case "enum":  # 只能上传枚举值范围内的字段值
            return enum is not None and value in enum
    raise AssertionError(f"no rule for key type {kind}")

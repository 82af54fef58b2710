"""WeChat subscription messages (订阅消息), sent through the mini program's server API.

A notification becomes a subscription message of the template configured for its event:
`POST {gateway}/cgi-bin/message/subscribe/send?access_token=TOKEN` with `touser` (the user's
openid), `template_id`, `page` (the mini program page the card opens; left out, the card
opens nothing), `data` (`{"thing3": {"value": "…"}, …}`), `miniprogram_state` and `lang`.
WeChat answers `{"errcode": 0, "errmsg": "ok"}`, or an errcode:
- 40003 openid empty or wrong, 40037 template_id wrong, 43101 the user refused or cancelled
  the subscription (a one-time subscription also allows one message only), 47003 template data
  empty or breaking its key's rule, 41030 page not in the live mini program: never deliverable
  as it is (`Undeliverable`);
- 40001 / 42001 / 40014 (token invalid, "not latest", expired): a new token, and one more try;
- -1 (system busy), 45009 / 45011 (daily / per-minute quota), HTTP 5xx, timeouts: later
  (`NotDeliveredYet`; the outbox retries with back-off, then gives up visibly).

Each data key's type is its name without the number (`thing3` is a thing) and has a rule on its
value; values are fitted to them here, so that a long product title does not lose the message
(thing: at most 20 characters; character_string: at most 32 digits, letters or symbols; number:
at most 32 digits, decimals allowed; letter: 32 letters; symbol: 5 symbols; amount: one currency
symbol and at most 10 digits, decimals allowed, "元" allowed at the end; time: 24-hour time,
date allowed; date: a date, time allowed; phone_number: at most 17 digits or symbols;
car_number: at most 8; name: 10 Chinese characters, or 20 letters or symbols; phrase: at most 5
Chinese characters only; enum: one of the template's values).

The access token is `pocketshop.wechat.AccessTokens` (getStableAccessToken, kept until shortly
before it expires, fetched once at a time); whatever keeps WeChat from answering, or keeps it
from giving a token, leaves the message for later (`NotDeliveredYet`).

WeChat's documentation relied on:
- send: https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
  (the same text: https://developers.weixin.qq.com/minigame/dev/api-backend/open-api/subscribe-message/subscribeMessage.send.html),
  with its table "订阅消息参数值内容限制说明"
- one-time and long-term subscriptions: https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message-overview.html
- stable token (for the mini program): https://developers.weixin.qq.com/minigame/dev/api-backend/open-api/access-token/auth.getStableAccessToken.html
- common error codes (-1, 40001, 42001, 45009, 45011, …): https://developers.weixin.qq.com/doc/channels/API/basics/commErrCode.html
"""

import json
import logging
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from pocketshop.notifications.channels import (
    Message,
    NotDeliveredYet,
    Undeliverable,
)
from pocketshop.notifications.events import Event
from pocketshop.wechat import (
    GATEWAY,
    TOKEN_REJECTED,
    AccessTokens,
    WeChatUnavailable,
    errcode,
    post_json,
)

log = logging.getLogger(__name__)

# Answers to a send.
LATER = {-1: "WeChat is busy", 45009: "daily quota used up", 45011: "per-minute quota hit"}
NEVER = {
    40003: "the openid is empty or wrong",
    40037: "the template_id is wrong",
    43101: "the user refused these messages, or has no subscription left",
    47003: "the template data is empty or breaks its rule",
    41030: "the page is not in the live mini program",
}


@dataclass(frozen=True)
class WeChatTemplate:
    """A subscription template and how a message fills it: `fields` maps each template key
    (`thing3`) to the name of a value of the message (`title`). `page` is where the card leads,
    `{link}` standing for the message's link."""

    template_id: str
    fields: dict[str, str]
    page: str = "{link}"


class WeChatMessages:
    """The WeChat channel: one subscription message per notification."""

    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        http: httpx.AsyncClient,
        gateway: str = GATEWAY,
        templates: dict[str, WeChatTemplate],
        miniprogram_state: str = "formal",
        lang: str = "zh_CN",
    ) -> None:
        self._http, self._gateway = http, gateway.rstrip("/")
        self._tokens = AccessTokens(
            appid,
            secret,
            http,
            gateway,
            setting_names=("POCKETSHOP_WECHAT_APP_ID", "POCKETSHOP_WECHAT_APP_SECRET"),
        )
        self._templates = dict(templates)
        self._state, self._lang = miniprogram_state, lang

    async def deliver(self, address: str, message: Message) -> None:
        template = self._templates.get(message.event)
        if template is None:
            raise Undeliverable(f"no WeChat template is configured for {message.event!r}")
        if not address:
            raise Undeliverable("no openid to send to")
        body: dict[str, Any] = {
            "touser": address,
            "template_id": template.template_id,
            "data": _data(template, message),
            "miniprogram_state": self._state,
            "lang": self._lang,
        }
        page = template.page.replace("{link}", message.link)
        if page:  # WeChat: "该字段不填则模板无跳转" (left out, the card opens nothing)
            body["page"] = page
        try:
            code, errmsg = await self._send_with_token(body)
        except WeChatUnavailable as later:  # no answer, or no token: the outbox tries again
            raise NotDeliveredYet(str(later)) from None
        if code == 0:
            return
        if code in NEVER:
            raise Undeliverable(f"WeChat {code}: {NEVER[code]} ({errmsg})")
        if code in LATER:
            raise NotDeliveredYet(f"WeChat {code}: {LATER[code]} ({errmsg})")
        # Not one this API documents: retried, and given up visibly after the outbox's tries.
        log.warning("WeChat answered a subscription message with %s %s", code, errmsg)
        raise NotDeliveredYet(f"WeChat {code}: {errmsg}")

    async def _send_with_token(self, body: dict[str, Any]) -> tuple[int, str]:
        token = await self._tokens.current()
        code, errmsg = await self._send(token, body)
        if code in TOKEN_REJECTED:
            # Revoked or expired early: drop it, get the one WeChat holds now, try once more.
            self._tokens.forget(token)
            token = await self._tokens.current()
            code, errmsg = await self._send(token, body)
            if code in TOKEN_REJECTED:
                raise WeChatUnavailable(
                    f"WeChat refused a fresh access token too ({code} {errmsg})"
                )
        return code, errmsg

    async def _send(self, token: str, body: dict[str, Any]) -> tuple[int, str]:
        answer = await post_json(
            self._http,
            f"{self._gateway}/cgi-bin/message/subscribe/send",
            body,
            params={"access_token": token},
        )
        if "errcode" not in answer:  # the send API always says; anything else is not WeChat
            raise WeChatUnavailable("WeChat's answer to a send has no errcode")
        return errcode(answer), str(answer.get("errmsg", ""))


def _data(template: WeChatTemplate, message: Message) -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = {}
    for key, name in template.fields.items():
        value = message.values.get(name)
        if value is None:
            raise Undeliverable(f"{message.event} has no value {name!r} for {key}")
        try:
            data[key] = {"value": fit(key, value)}
        except ValueError as unfit:
            raise Undeliverable(f"{key} cannot hold {value!r}: {unfit}") from None
    return data


# Fitting values to their key's rule ("订阅消息参数值内容限制说明").

_KEY = re.compile(r"([a-z_]+?)(\d+)")
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DATE = r"\d{4}(?:-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2}|年\d{1,2}月\d{1,2}日)"
_CLOCK = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_TIME = re.compile(rf"(?:{_DATE}\s?)?{_CLOCK}")
_DAY = re.compile(rf"{_DATE}(?:\s?{_CLOCK})?")
SYMBOLS = frozenset(string.punctuation)
# ISO codes as Money.format writes them ("USD 12.00"), to the one symbol the rule allows.
CURRENCY_SYMBOLS = {"CNY": "¥", "JPY": "¥", "USD": "$", "HKD": "$", "EUR": "€", "GBP": "£"}


def _squeezed(value: str) -> str:
    return _SPACE.sub(" ", value).strip()


def _han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _at_most(value: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters")
    return value


def _thing(value: str) -> str:
    # 20个以内字符, anything: a long title is cut, with an ellipsis saying so.
    text = _squeezed(value)
    return text if len(text) <= 20 else text[:19] + "…"


def _character_string(value: str) -> str:
    # 32位以内数字、字母或符号: no Chinese, no spaces; an order number keeps its start.
    kept = "".join(c for c in value if c.isascii() and (c.isalnum() or c in SYMBOLS))
    return kept[:32]


def _number(value: str) -> str:
    # 32位以内数字, 只能数字, 可带小数.
    text = value.replace(",", "").strip()
    found = _NUMBER.search(text)
    if found is None or text.startswith("-"):
        raise ValueError("not a number without sign")
    whole, _dot, part = found.group().partition(".")
    if len(whole) > 32:
        raise ValueError("more than 32 digits")
    part = part[: 32 - len(whole)]
    return f"{whole}.{part}" if part else whole


def _amount(value: str) -> str:
    # 1个币种符号 + 10位以内纯数字, 可带小数, 结尾可带"元": "¥12.00".
    text = value.replace(",", "").strip()
    found = _NUMBER.search(text)
    if found is None or text.startswith("-"):
        raise ValueError("not an amount without sign")
    whole = found.group().partition(".")[0]
    if len(whole) > 10:
        raise ValueError("more than 10 digits")
    symbols = [c for c in text if unicodedata.category(c) == "Sc"]
    code = re.search(r"[A-Z]{3}", text)
    if symbols:
        symbol = symbols[0]
    elif code is not None and code.group() in CURRENCY_SYMBOLS:
        symbol = CURRENCY_SYMBOLS[code.group()]
    elif "元" in text:
        symbol = "¥"
    else:
        raise ValueError("no currency")
    return symbol + found.group()


def _moment(pattern: re.Pattern[str]) -> Callable[[str], str]:
    # time: 24小时制时间 (支持+年月日); date: 年月日 (支持+24小时制时间); either may be a span
    # of two of them joined by "~". Kept if it is one; else the first one found in the value.
    def fit_moment(value: str) -> str:
        text = _squeezed(value)
        points = [point.strip() for point in text.split("~")]
        if len(points) <= 2 and all(pattern.fullmatch(point) for point in points):
            return "~".join(points)
        found = pattern.search(text)
        if found is None:
            raise ValueError("no date or time in it")
        return found.group()

    return fit_moment


def _phrase(value: str) -> str:
    # 5个以内纯汉字: Chinese characters only ("Shipped" cannot be one).
    return "".join(c for c in value if _han(c))[:5]


def _name(value: str) -> str:
    # 10个以内纯汉字或20个以内纯字母或符号; mixed counts as Chinese: 10. No digits.
    text = _squeezed("".join(c for c in value if not c.isdigit()))
    return text[:10] if any(_han(c) for c in text) else text[:20]


def _only(allowed: Callable[[str], bool], limit: int) -> Callable[[str], str]:
    return lambda value: "".join(c for c in value if allowed(c))[:limit]


def _phone(value: str) -> str:
    # 17位以内, 数字、符号 ("+86-0766-66888866"): spaces become dashes; cutting a phone number
    # would change it, so a long one is refused.
    text = _SPACE.sub("-", value.strip())
    kept = "".join(c for c in text if c.isascii() and (c.isdigit() or c in SYMBOLS))
    return _at_most(kept, 17)


FITTERS: dict[str, Callable[[str], str]] = {
    "thing": _thing,
    "character_string": _character_string,
    "number": _number,
    "letter": _only(lambda c: c.isascii() and c.isalpha(), 32),
    "symbol": _only(lambda c: c in SYMBOLS, 5),
    "amount": _amount,
    "time": _moment(_TIME),
    "date": _moment(_DAY),
    "phone_number": _phone,
    "car_number": lambda value: _at_most("".join(value.split()), 8),
    "name": _name,
    "phrase": _phrase,
    "enum": _squeezed,  # only the template's own values: nothing to fit, sent as written
}


def key_type(key: str) -> str | None:
    """`thing` for `thing3`; None when the key is not a type and a number."""
    found = _KEY.fullmatch(key)
    return found.group(1) if found is not None and found.group(1) in FITTERS else None


def fit(key: str, value: str) -> str:
    """The value as the key's rule allows it; ValueError when it cannot be made to."""
    kind = key_type(key)
    if kind is None:
        raise ValueError(f"{key!r} is not a known template key type")
    fitted = FITTERS[kind](value)
    if not fitted:
        raise ValueError("nothing left of it that the rule allows")
    return fitted


def parse_templates(raw: str) -> dict[str, WeChatTemplate]:
    """The per-event templates, from JSON text:
    `{"order_paid": {"template_id": "…", "fields": {"character_string1": "number",
    "amount2": "amount", "thing3": "title", "time4": "time"}, "page": "pages/web?path={link}"}}`
    (`page` is optional: the message's link by default). Blank text means none."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as broken:
        raise ValueError(f"WeChat templates are not valid JSON: {broken}") from None
    if not isinstance(parsed, dict):
        raise ValueError("WeChat templates must be a JSON object of events")
    known = {event.value for event in Event}
    templates: dict[str, WeChatTemplate] = {}
    for event, spec in parsed.items():
        where = f"WeChat template for {event!r}"
        if event not in known:
            raise ValueError(f"{where}: no such event (known: {', '.join(sorted(known))})")
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be an object with template_id and fields")
        unknown = set(spec) - {"template_id", "fields", "page"}
        if unknown:
            raise ValueError(f"{where}: unknown entries {', '.join(sorted(unknown))}")
        template_id, fields, page = spec.get("template_id"), spec.get("fields"), spec.get("page")
        if not isinstance(template_id, str) or not template_id.strip():
            raise ValueError(f"{where}: template_id must be a non-empty string")
        if not isinstance(fields, dict) or not fields:
            raise ValueError(f"{where}: fields must be a non-empty object")
        for key, name in fields.items():
            if key_type(key) is None:
                raise ValueError(
                    f"{where}: {key!r} is not a template key (a type and a number, types: "
                    f"{', '.join(FITTERS)})"
                )
            if not isinstance(name, str) or not name:
                raise ValueError(f"{where}: {key} must name a message value, as a string")
        if page is not None and not isinstance(page, str):
            raise ValueError(f"{where}: page must be a string")
        templates[event] = WeChatTemplate(
            template_id.strip(), dict(fields), "{link}" if page is None else page
        )
    return templates

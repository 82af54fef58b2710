"""What a payment provider does for us, whichever it is (sandbox, WeChat Pay, Alipay).

Each adapter speaks its provider's protocol and answers in these terms: a `Prepay` telling
the buyer's browser what to do, a verified `Notice` of what happened to a payment or refund,
a `Closed` answer, a `RefundResult`. The rules (amounts, states, money) live in the service,
never here. Every call goes over the network, so none is made inside a transaction
(`db.outside_transaction`); an answer that does not say how things stand (a timeout, a 5xx,
an error the provider does not document as final) raises `ProviderError` or answers
`unknown`, and is never taken for a refusal.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from fastapi.responses import Response

from pocketshop import clock
from pocketshop.errors import NotFound
from pocketshop.i18n import N_, _


class Channel(StrEnum):
    """How the buyer pays: the provider's hosted page, a QR code to scan, inside WeChat."""

    page = "page"  # sandbox pay page; Alipay page pay
    wap = "wap"  # Alipay on a phone browser
    h5 = "h5"  # WeChat Pay from a phone browser outside WeChat
    native = "native"  # WeChat Pay QR code shown on a computer
    jsapi = "jsapi"  # WeChat Pay inside WeChat (needs the buyer's openid)


class NoticeState(StrEnum):
    paid = "paid"
    failed = "failed"
    closed = "closed"
    pending = "pending"
    # Paid, then refunded at the provider (some or all): refunds not ours to guess at.
    refunded_elsewhere = "refunded_elsewhere"
    refunded = "refunded"
    refund_failed = "refund_failed"
    # The provider took the refund's money but could not pay the buyer (a closed card): it
    # waits for someone to act at the provider, then succeeds.
    refund_stuck = "refund_stuck"
    refund_processing = "refund_processing"


class RefundState(StrEnum):
    """How a refund stands at the provider."""

    processing = "processing"  # taken; its outcome comes later
    refunded = "refunded"
    refused = "refused"  # final: the money stays with us
    stuck = "stuck"  # taken, but waiting for someone to act at the provider
    not_found = "not_found"  # the provider knows no such refund
    unknown = "unknown"  # no clear answer: ask again later


NOTICE_REFUND_STATES = {
    NoticeState.refunded: RefundState.refunded,
    NoticeState.refund_failed: RefundState.refused,
    NoticeState.refund_stuck: RefundState.stuck,
    NoticeState.refund_processing: RefundState.processing,
}


@dataclass(frozen=True)
class Prepay:
    """What the buyer's browser does next: follow a URL, show a QR code of one, or hand
    parameters to WeChat's JSAPI."""

    redirect_url: str | None = None
    qr_url: str | None = None
    jsapi: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """A provider's word on a payment or a refund, verified and decrypted."""

    kind: str  # "payment" or "refund"
    state: NoticeState
    out_trade_no: str
    # What the provider calls it: its transaction id, or its refund id.
    event_key: str
    transaction_id: str = ""
    amount: int | None = None
    currency: str = ""
    # Every field naming whom it is for that the provider sent, as sent (WeChat Pay: mchid,
    # and appid on payments; Alipay: app_id and seller_id): each must be ours.
    identity: Mapping[str, str] = field(default_factory=dict)
    out_refund_no: str = ""
    # The provider's id of this message, the same on each resend (Alipay's notify_id).
    message_id: str = ""

    def for_us(self, ours: Mapping[str, str]) -> bool:
        """Whether it names someone, and every field naming whom it is for is ours."""
        return bool(self.identity) and all(
            ours.get(name) == value for name, value in self.identity.items()
        )

    def facts(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state.value,
            "out_trade_no": self.out_trade_no,
            "event_key": self.event_key,
            "transaction_id": self.transaction_id,
            "amount": self.amount,
            "currency": self.currency,
            "identity": dict(self.identity),
            "out_refund_no": self.out_refund_no,
            "message_id": self.message_id,
        }

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> "Notice":
        # Only the fields it has now: a notice stored by an older version, with no identity,
        # is for nobody we know, and goes to the operator.
        known = {name: facts[name] for name in cls.__dataclass_fields__ if name in facts}
        return cls(**{**known, "state": NoticeState(facts["state"])})


@dataclass(frozen=True)
class RefundResult:
    state: RefundState
    refund_id: str = ""
    failure: str = ""


Providers = dict[str, "Provider"]

LABELS = {
    "sandbox": N_("Sandbox (no real money)"),
    "wechatpay": N_("WeChat Pay"),
    "alipay": N_("Alipay"),
}


def label(name: str) -> str:
    return _(LABELS[name]) if name in LABELS else name


def offered(providers: "Providers") -> list[tuple[str, str]]:
    """The ways of paying a buyer may choose from: name and label, first the default."""
    return [(name, label(name)) for name in providers]


def channel_for(provider: "Provider", user_agent: str, *, has_openid: bool = False) -> Channel:
    """How a buyer on this browser pays with this provider: a phone browser is sent to the
    provider's mobile page (WeChat H5, Alipay WAP), a computer gets its QR code or page.
    Inside WeChat, where H5 pay is refused, WeChat Pay pays in the page (JSAPI) for a buyer
    signed in with WeChat (it needs their openid), and shows its QR code to anyone else."""
    on_phone = any(word in user_agent for word in ("Mobile", "Android", "iPhone"))
    if "MicroMessenger" in user_agent:
        preferred = ((Channel.jsapi,) if has_openid else ()) + (Channel.native, Channel.wap)
    elif on_phone:
        preferred = (Channel.h5, Channel.wap)
    else:
        preferred = (Channel.native, Channel.page)
    for channel in preferred + provider.channels:
        if channel in provider.channels and (channel is not Channel.jsapi or has_openid):
            return channel
    raise ValueError(f"{provider.name} offers no channel")


def provider_of(providers: Providers, name: str) -> "Provider":
    provider = providers.get(name)
    if provider is None:
        raise NotFound(_("This way of paying is not offered."), code="provider_not_found")
    return provider


MAX_SKEW = timedelta(minutes=5)


def fresh(timestamp: str) -> bool:
    """A notification's Unix timestamp within five minutes of now, either way (older ones
    may be replays)."""
    return (
        timestamp.isascii()
        and timestamp.isdigit()
        and len(timestamp) <= 12
        and abs(clock.now().timestamp() - int(timestamp)) <= MAX_SKEW.total_seconds()
    )


class NoticeRejected(Exception):
    """Not from the provider, not for us, or not readable: answered 4xx, nothing stored."""

    def __init__(self, reason: str, status_code: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class ProviderError(Exception):
    """The provider could not be reached, or refused the call."""


@dataclass(frozen=True)
class PayRequest:
    out_trade_no: str
    description: str
    amount: int
    currency: str
    channel: Channel
    notify_url: str
    return_url: str
    client_ip: str
    # Unpaid by then, the provider refuses the payment: the order's own deadline.
    expires_at: datetime
    openid: str = ""


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str  # the provider's idempotency key: the same one on every try
    amount: int
    total: int
    currency: str
    notify_url: str


class Provider(Protocol):
    name: str
    # Who we are to it: each identity field its notices may name, and our value of it.
    identity: Mapping[str, str]
    channels: tuple[Channel, ...]

    async def prepay(self, request: PayRequest) -> Prepay: ...

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice: ...

    async def query(self, out_trade_no: str) -> Notice | None:
        """How the trade stands; None when the provider knows no such trade."""
        ...

    async def close(self, out_trade_no: str) -> None:
        """Ask the provider to close an unpaid trade. Whatever it answers (closed, paid
        meanwhile, never opened: answers differ, and WeChat Pay says 204 even for a trade
        it does not know), a query says how the trade stands after; only no answer
        raises."""
        ...

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Ask for the refund (again: the same out_refund_no refunds once)."""
        ...

    async def query_refund(self, request: RefundRequest) -> RefundResult:
        """How a refund asked for stands (not_found when the provider has none)."""
        ...

    def acknowledge(self) -> Response:
        """The answer that tells the provider to stop sending this notice."""
        ...

    def refuse(self, reason: str, status_code: int) -> Response: ...

"""What is told: each event, who it is for, by which channels unless the user says otherwise,
and its texts, made in the reader's language from the facts kept with it (`params`)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pocketshop.i18n import N_, _, using
from pocketshop.money import format_fen
from pocketshop.notifications.channels import Message


class Event(StrEnum):
    order_paid = "order_paid"
    payment_request_paid = "payment_request_paid"
    order_shipped = "order_shipped"
    receipt_due_soon = "receipt_due_soon"
    refund_sent = "refund_sent"
    aftersales_step = "aftersales_step"
    settled = "settled"
    withdrawal_paid = "withdrawal_paid"
    withdrawal_failed = "withdrawal_failed"
    low_stock = "low_stock"


class Channel(StrEnum):
    inbox = "inbox"  # always: the in-app list is the record of what was told
    sms = "sms"
    wechat = "wechat"  # for users with a WeChat identity


class Side(StrEnum):
    buyer = "buyer"
    merchant = "merchant"


Params = Mapping[str, Any]


@dataclass(frozen=True)
class Kind:
    side: Side
    label: str  # for the settings page
    title: str
    body: str  # gettext template over the rendered values
    link: Callable[[Params], str]
    sms: bool  # by SMS unless turned off


def _order(side: Side) -> Callable[[Params], str]:
    prefix = "/me/orders/" if side is Side.buyer else "/console/orders/"
    return lambda params: prefix + str(params["number"])


def _case(params: Params) -> str:
    side = Side(params["side"])
    prefix = "/me/aftersales/" if side is Side.buyer else "/console/aftersales/"
    return prefix + str(params["case"])


KINDS: dict[Event, Kind] = {
    Event.order_paid: Kind(
        Side.merchant,
        N_("A new paid order"),
        N_("New paid order"),
        N_("Order %(number)s was paid: %(amount)s. Ship it soon."),
        _order(Side.merchant),
        sms=True,
    ),
    Event.payment_request_paid: Kind(
        Side.merchant,
        N_("A payment request was paid"),
        N_("Payment request paid"),
        N_("Your payment request was paid: %(amount)s (order %(number)s)."),
        _order(Side.merchant),
        sms=True,
    ),
    Event.order_shipped: Kind(
        Side.buyer,
        N_("Your order was shipped"),
        N_("Order shipped"),
        N_("Order %(number)s from %(shop)s was shipped: %(carrier)s %(tracking)s."),
        _order(Side.buyer),
        sms=True,
    ),
    Event.receipt_due_soon: Kind(
        Side.buyer,
        N_("Receipt will be confirmed for you soon"),
        N_("Receipt confirmed soon"),
        N_(
            "Receipt of order %(number)s will be confirmed for you at %(time)s. Not received "
            "yet? Apply for after-sales before then."
        ),
        _order(Side.buyer),
        sms=True,
    ),
    Event.refund_sent: Kind(
        Side.buyer,
        N_("A refund reached you"),
        N_("Refund sent"),
        N_("%(amount)s of order %(number)s went back to where you paid from."),
        _order(Side.buyer),
        sms=True,
    ),
    Event.aftersales_step: Kind(
        Side.buyer,  # both sides get it: the other side's step (see `side` in its params)
        N_("Every step of an after-sales case"),
        N_("After-sales update"),
        N_("After-sales case of order %(number)s: %(status)s."),
        _case,
        sms=True,
    ),
    Event.settled: Kind(
        Side.merchant,
        N_("Money settled (available to withdraw)"),
        N_("Money settled"),
        N_("%(amount)s from order %(number)s can now be withdrawn."),
        lambda params: "/console/finance",
        sms=False,
    ),
    Event.withdrawal_paid: Kind(
        Side.merchant,
        N_("A withdrawal arrived"),
        N_("Withdrawal arrived"),
        N_("Your withdrawal of %(amount)s reached your bank card."),
        lambda params: "/console/finance",
        sms=False,
    ),
    Event.withdrawal_failed: Kind(
        Side.merchant,
        N_("A withdrawal failed"),
        N_("Withdrawal failed"),
        N_("Your withdrawal of %(amount)s failed (%(why)s); the money is back in your balance."),
        lambda params: "/console/finance",
        sms=True,
    ),
    Event.low_stock: Kind(
        Side.merchant,
        N_("Low stock"),
        N_("Low stock"),
        N_("Only %(left)s left of %(title)s %(spec)s."),
        lambda params: f"/console/products/{params['product']}",
        sms=False,
    ),
}

BOTH_SIDES = frozenset({Event.aftersales_step})


def events_for(side: Side) -> list[Event]:
    """The events a user on this side may be told of (the settings page's rows)."""
    return [event for event, kind in KINDS.items() if kind.side is side or event in BOTH_SIDES]


def render(event: Event, params: Params, locale: str, timezone: str) -> Message:
    """The message in `locale`, times in `timezone`."""
    kind = KINDS[event]
    with using(locale):
        values = _values(params, ZoneInfo(timezone))
        return Message(
            event=event.value,
            title=_(kind.title),
            body=_(kind.body, **values),
            link=kind.link(params),
            values=values,
        )


def _values(params: Params, zone: ZoneInfo) -> dict[str, str]:
    """The facts as shown: money formatted, times local, statuses translated."""
    values = {name: str(value) for name, value in params.items()}
    if "amount" in params:
        values["amount"] = format_fen(int(params["amount"]), str(params.get("currency", "CNY")))
    if "at" in params:
        moment = datetime.fromisoformat(str(params["at"])).astimezone(zone)
        values["time"] = moment.strftime("%Y-%m-%d %H:%M")
    for name, label in params.items():
        if name.endswith("_label"):  # a msgid, shown in the reader's language
            values[name.removesuffix("_label")] = _(str(label))
    if "why" in params:
        values["why"] = _(str(params["why"]))
    values.setdefault("spec", "")
    values.setdefault("title", values.get("number", ""))
    return values

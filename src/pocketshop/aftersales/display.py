"""What the after-sales pages (buyer's, console's, operator's) show of a case, in the words
of who looks: its facts, photos and timeline in the shop's time zone, what its timer will do,
and what the order pages show of a line's cases. Reads only; the rules stay in service.py."""

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import media
from pocketshop.aftersales import queries, rules, service, states
from pocketshop.aftersales.models import AftersalesCase, AftersalesEvent
from pocketshop.aftersales.queries import CaseView
from pocketshop.aftersales.states import OPEN, Actor, Kind, Status
from pocketshop.config import Settings
from pocketshop.db import attempt
from pocketshop.errors import AppError, InvalidInput, NotFound
from pocketshop.i18n import N_, _
from pocketshop.money import format_fen, parse_yuan
from pocketshop.orders import shipping
from pocketshop.orders.models import Order, OrderLine
from pocketshop.shops.models import Shop

ACTOR_LABELS = {
    Actor.buyer: N_("Buyer"),
    Actor.merchant: N_("Shop"),
    Actor.system: N_("System"),
    Actor.operator: N_("Platform"),
}
# The first event of every case, and moves whose target status alone would mislead.
APPLIED = N_("Applied")
DECLINED = N_("Offer declined")
WITHDRAWN = N_("Withdrawn")
# What the system's steps say, as codes in their event rows.
SYSTEM_NOTES = {
    "timed_out": N_("No answer in time"),
    "no_return_address": N_("The shop gave no return address: the platform decides."),
}
# What the case's timer does when it runs out, as each side reads it (%(time)s: when).
DUE_HINTS: dict[Actor, dict[Status, str]] = {
    Actor.buyer: {
        Status.requested: N_("The shop answers by %(time)s, or your application is agreed."),
        Status.proposed: N_("Answer the offer by %(time)s, or the application closes."),
        Status.awaiting_return: N_("Send the goods back by %(time)s, or the application closes."),
        Status.returning: N_(
            "The shop confirms arrival by %(time)s, or you are refunded automatically."
        ),
        Status.refused: N_("You may ask the platform to decide until %(time)s."),
    },
    Actor.merchant: {
        Status.requested: N_("Answer by %(time)s, or the application is agreed automatically."),
        Status.proposed: N_("The buyer answers by %(time)s, or the application closes."),
        Status.awaiting_return: N_(
            "The buyer sends the goods back by %(time)s, or the application closes."
        ),
        Status.returning: N_(
            "Confirm arrival by %(time)s, or the buyer is refunded automatically."
        ),
        Status.refused: N_("The buyer may ask the platform to decide until %(time)s."),
    },
}
# The shop's turn: what the console's nav counts.
SHOP_TURN = (Status.requested, Status.returning)
BADGE_MAX = 99

E = TypeVar("E", bound=StrEnum)


def clock_of(shop: Shop) -> Callable[[datetime | None], str]:
    """Times as the shop's time zone reads them (every side of a case sees the same)."""
    zone = ZoneInfo(shop.timezone)

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

    return when


@dataclass(frozen=True)
class Step:
    """One row of a case's timeline."""

    label: str
    actor: str
    note: str
    at: datetime
    when: str


def step_label(event: AftersalesEvent) -> str:
    if event.from_status is None:
        return _(APPLIED)
    if event.to_status == Status.requested:
        return _(DECLINED)
    if event.to_status == Status.closed and event.actor == Actor.buyer:
        return _(WITHDRAWN)
    return states.status_label(event.to_status)


def actor_label(actor: str, viewer: Actor) -> str:
    return _("You") if actor == viewer else _(ACTOR_LABELS[Actor(actor)])


async def timeline(
    session: AsyncSession, case: AftersalesCase, shop: Shop, viewer: Actor
) -> list[Step]:
    """Oldest first, as the case went."""
    when = clock_of(shop)
    return [
        Step(
            label=step_label(event),
            actor=actor_label(event.actor, viewer),
            note=_(SYSTEM_NOTES[event.note]) if event.note in SYSTEM_NOTES else event.note,
            at=event.created_at,
            when=when(event.created_at),
        )
        for event in await queries.events_of(session, case)
    ]


async def case_context(
    session: AsyncSession, view: CaseView, shop: Shop, viewer: Actor
) -> dict[str, Any]:
    """What a case page shows of its case, to `viewer`'s side."""
    case = view.case
    status = Status(case.status)
    when = clock_of(shop)
    hint = DUE_HINTS.get(viewer, {}).get(status)
    return {
        "shop": shop,
        "case": case,
        "view": view,
        "is_exchange": case.kind == Kind.exchange,
        "is_open": status in OPEN,
        "kind_label": states.kind_label(case.kind),
        "case_status": states.status_label(case.status),
        "reason_label": states.reason_label(case.reason),
        "amount": format_fen(case.amount, case.currency),
        "proposed": format_fen(case.proposed_amount, case.currency)
        if case.proposed_amount is not None
        else "",
        "due_hint": _(hint, time=when(case.due_at)) if hint and case.due_at else "",
        "photos": [
            (media.url(photo.key), media.url(photo.thumb_key))
            for photo in await queries.photos_of(session, case)
        ],
        "timeline": await timeline(session, case, shop, viewer),
        "line_image": image_of(view.line),
        "carrier_name": shipping.carrier_name,
        "carriers": shipping.carriers(),
        "when": when,
        "note_max": service.NOTE_MAX,
        "address_max": service.ADDRESS_MAX,
        "description_max": service.DESCRIPTION_MAX,
    }


def may(case: AftersalesCase, viewer: Actor, *targets: Status) -> bool:
    """Whether `viewer` may move the case to any of `targets` now (a page offers only that)."""
    return any(states.may(case, target, viewer) for target in targets)


async def one_view(session: AsyncSession, case: AftersalesCase) -> CaseView:
    (view,) = await queries.views(session, [case])
    return view


def rows(views: list[CaseView], shops: Mapping[int, Shop]) -> list[dict[str, Any]]:
    """The lists' rows: each case with its labels, amount and when it was asked."""
    return [
        {
            "view": view,
            "case": view.case,
            "shop": shops[view.case.shop_id],
            "kind_label": states.kind_label(view.case.kind),
            "case_status": states.status_label(view.case.status),
            "amount": format_fen(view.case.amount, view.case.currency),
            "when": clock_of(shops[view.case.shop_id])(view.case.created_at),
            "image": image_of(view.line),
        }
        for view in views
    ]


def image_of(line: OrderLine) -> str | None:
    return media.url(line.image_key) if line.image_key else None


# --- forms ------------------------------------------------------------------------------------


def see_other(url: str) -> RedirectResponse:
    """POST-redirect-GET."""
    return RedirectResponse(url, status_code=303)


def typed_of(form: Mapping[str, Any]) -> dict[str, str]:
    """The text fields of a submitted form (files left out), to show again when refused."""
    return {name: value for name, value in form.items() if isinstance(value, str)}


def choice(kind: type[E], text: str, message: str, field: str) -> E:
    """One of a form's fixed choices (a radio, a select), or refused with `message`."""
    try:
        return kind(text)
    except ValueError:
        raise InvalidInput(message, code=f"invalid_{field}", field=field) from None


def whole_number(text: str, field: str) -> int:
    """A count typed in a form: plain digits."""
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise InvalidInput(_("Enter a whole number, like 1."), code="invalid_number", field=field)
    return int(value)


def yuan(text: str) -> int:
    """An amount typed in yuan ("12.50"), in fen; refused unless it is a positive amount."""
    fen = parse_yuan(text)
    if not fen:
        raise InvalidInput(
            _("Enter an amount in yuan, like 12.50."), code="invalid_amount", field="amount"
        )
    return fen


# --- a case page's steps ----------------------------------------------------------------------


def no_fields(typed: Mapping[str, str]) -> dict[str, Any]:
    """A step whose form sends nothing but its button."""
    return {}


def shipment(typed: Mapping[str, str]) -> dict[str, Any]:
    """The goods sent (the buyer's return, the shop's new item): _forms.html's shipment_fields."""
    return {
        "carrier": typed.get("carrier", ""),
        "tracking_number": typed.get("tracking_number", ""),
    }


@dataclass(frozen=True)
class FormStep:
    """A step a case page's form takes: the service function, and the keyword arguments it
    takes from the fields the form sends."""

    function: Callable[..., Awaitable[AftersalesCase]]
    fields: Callable[[Mapping[str, str]], dict[str, Any]] = no_fields


async def take_step(
    request: Request,
    session: AsyncSession,
    step: FormStep | None,
    *arguments: Any,
    again: Callable[[AppError, dict[str, str]], Awaitable[Response]],
    done: Response,
    **keywords: Any,
) -> Response:
    """Takes the step a case page's form posted to (None: its address names no step), with
    `arguments` and `keywords` (who acts, on which case) and the form's fields, in a savepoint:
    a refusal keeps nothing the service flushed before refusing. Refused, the page `again`
    with the error and what was typed; taken, `done` (the page's POST-redirect-GET)."""
    if step is None:
        raise NotFound(_("Page not found."))
    typed = typed_of(await request.form())
    try:
        async with attempt(session):
            await step.function(session, *arguments, **keywords, **step.fields(typed))
    except AppError as error:
        return await again(error, typed)
    return done


# --- the order pages --------------------------------------------------------------------------


@dataclass(frozen=True)
class OnOrder:
    """An order's cases as its pages show them: the newest on each line, with its status,
    and (on the buyer's page) what each line may be applied for now (rules.py)."""

    cases: list[AftersalesCase]
    lines: dict[int, OrderLine]
    allowed: Mapping[int, rules.Applicable] = dataclasses.field(default_factory=dict)

    def on_line(self, line: OrderLine) -> list[AftersalesCase]:
        return [case for case in self.cases if case.order_line_id == line.id]

    def latest_on(self, line: OrderLine) -> AftersalesCase | None:
        return max(self.on_line(line), key=lambda case: case.id, default=None)

    def open_on(self, line: OrderLine) -> AftersalesCase | None:
        return next((case for case in self.on_line(line) if Status(case.status) in OPEN), None)

    def may_apply(self, line: OrderLine) -> bool:
        allowed = self.allowed.get(line.id)
        return allowed is not None and bool(allowed.kinds)

    def line_of(self, case: AftersalesCase) -> OrderLine:
        return self.lines[case.order_line_id]

    @staticmethod
    def label(case: AftersalesCase) -> str:
        return states.status_label(case.status)


async def on_order(session: AsyncSession, order: Order, lines: list[OrderLine]) -> OnOrder:
    return OnOrder(
        await queries.cases_of_order(session, order.id), {line.id: line for line in lines}
    )


async def for_buyer(
    session: AsyncSession, settings: Settings, order: Order, lines: list[OrderLine]
) -> OnOrder:
    """As on_order, with what each line may be applied for now."""
    found = await on_order(session, order, lines)
    allowed = await rules.applicable_to(session, settings, order, lines, found.cases)
    return dataclasses.replace(found, allowed=allowed)


async def waiting_badge(session: AsyncSession, shop: Shop) -> str:
    """How many cases wait for the shop's answer, as the console nav's badge shows it ("" for
    none; counted no further than the badge shows)."""
    count = await queries.count(session, shop, SHOP_TURN)
    return f"{BADGE_MAX}+" if count > BADGE_MAX else str(count or "")

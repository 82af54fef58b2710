"""After-sales: what buyers, shops, operators and timers do to a case, its money included.

Every step locks the case's order first (`orders.lock`, the money path's lock), reads the
case again under it, moves the case along its table (states.py), and moves money only through
the one money path (`payments.escrow.refund`, `release`), in the same transaction. A refusal
raises and the caller's whole transaction rolls back.

While a case is open on an order (`Order.aftersales_open`), receipt does not release its
escrow; the case's end does, if the order was received meanwhile. An order whose every line
went back in full closes.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock, text
from pocketshop.accounts import service as accounts
from pocketshop.accounts.models import User
from pocketshop.aftersales import outcomes, queries, rules, states
from pocketshop.aftersales.models import AftersalesCase, AftersalesPhoto
from pocketshop.aftersales.states import OPEN, Actor, Kind, Reason, Status
from pocketshop.catalog.photos import StoredPhoto
from pocketshop.config import Settings
from pocketshop.db import new_row, table_of
from pocketshop.errors import Conflict, Forbidden, InvalidInput, NotFound
from pocketshop.i18n import _
from pocketshop.money import Money
from pocketshop.orders import service as orders
from pocketshop.orders import shipping
from pocketshop.orders.models import Order, OrderLine, new_public_id
from pocketshop.orders.service import OrderStatus
from pocketshop.shops.models import Shop

DESCRIPTION_MAX = 500
NOTE_MAX = 200
ADDRESS_MAX = 300
MAX_PHOTOS = 9


@dataclass(frozen=True)
class Application:
    line_id: str
    kind: Kind
    quantity: int
    reason: Reason
    description: str = ""
    # None: as much as the quantity is worth.
    amount: int | None = None


# --- applying -----------------------------------------------------------------------------------


async def apply(
    session: AsyncSession,
    settings: Settings,
    buyer: User,
    number: str,
    application: Application,
    photos: Sequence[StoredPhoto] = (),
) -> AftersalesCase:
    """The buyer asks about one line of their order. Refused: not their order (404); the order
    not paid or closed, the line not shipped yet for a return or exchange, the window closed,
    a case open on the line, too many before, more than was bought or is left (409)."""
    order = await orders.lock_for_buyer_or_404(session, buyer, number)
    line = await _line_or_404(session, order, application.line_id)
    description = text.clean_line(application.description)
    if text.too_long(description, DESCRIPTION_MAX):
        raise InvalidInput(
            _("At most %(n)s characters.", n=DESCRIPTION_MAX),
            code="description_too_long",
            field="description",
        )
    _check_photos(len(photos))
    allowed = await rules.applicable(session, settings, order, line)
    refusal = allowed.refusals.get(application.kind)
    if refusal is not None:
        raise refusal
    if not 1 <= application.quantity <= allowed.most[application.kind]:
        raise rules.too_many_units(allowed.most[application.kind])
    worth = await _worth(session, order, line, application, allowed)
    amount = worth if application.amount is None else application.amount
    if application.kind is not Kind.exchange and not 1 <= amount <= worth:
        raise rules.too_much_money(worth, order.currency)
    before_shipment = line.shipped_quantity == 0
    now = clock.now()
    values = new_row(
        table_of(AftersalesCase),
        {
            "public_id": new_public_id(),
            "order_id": order.id,
            "order_line_id": line.id,
            "shop_id": order.shop_id,
            "buyer_id": buyer.id,
            "kind": application.kind.value,
            "status": Status.requested.value,
            "quantity": application.quantity,
            "amount": amount if application.kind is not Kind.exchange else worth,
            "currency": order.currency,
            "reason": application.reason.value,
            "description": description,
            "before_shipment": before_shipment,
            "created_at": now,
            "updated_at": now,
            "due_at": now + _silence(settings, application.kind, before_shipment),
        },
    )
    case_id = await states.create(session, values, user_id=buyer.id, note=description)
    _keep_photos(session, case_id, photos, first=0)
    order.aftersales_open = True
    return await session.get_one(AftersalesCase, case_id)


async def add_photos(
    session: AsyncSession, buyer: User, public_id: str, photos: Sequence[StoredPhoto]
) -> AftersalesCase:
    """More photos on an open case, up to MAX_PHOTOS in all."""
    case, _order = await _buyers(session, buyer, public_id)
    if Status(case.status) not in OPEN:
        raise _cannot(case)
    kept = len(await queries.photos_of(session, case))
    _check_photos(kept + len(photos))
    _keep_photos(session, case.id, photos, first=kept)
    return case


def _check_photos(count: int) -> None:
    if count > MAX_PHOTOS:
        raise InvalidInput(
            _("At most %(n)s photos.", n=MAX_PHOTOS), code="too_many_photos", field="photos"
        )


def _keep_photos(
    session: AsyncSession, case_id: int, photos: Sequence[StoredPhoto], *, first: int
) -> None:
    for position, photo in enumerate(photos, start=first):
        session.add(
            AftersalesPhoto(
                case_id=case_id, key=photo.key, thumb_key=photo.thumb_key, position=position
            )
        )


async def _worth(
    session: AsyncSession,
    order: Order,
    line: OrderLine,
    application: Application,
    allowed: rules.Applicable,
) -> int:
    """What the quantity asked for is worth, at most what the order has left to refund; with
    the shipping fee when nothing has been shipped and this takes back all that is left."""
    worth = line.line_total * application.quantity // line.quantity
    if application.kind is Kind.refund_only and order.status == OrderStatus.paid:
        lines = await orders.lines_of(session, order)
        refunded = await queries.refunded_quantities(session, order.id)
        everything = all(
            (application.quantity == allowed.left)
            if other.id == line.id
            else refunded.get(other.id, 0) >= other.quantity
            for other in lines
        )
        if everything:
            worth += order.shipping_fee
    return min(worth, allowed.refundable)


# --- the shop's answers ----------------------------------------------------------------------


async def agree(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    public_id: str,
    *,
    user_id: int,
    return_address: str = "",
) -> AftersalesCase:
    """The shop agrees: a refund only goes back now; goods to be returned get the shop's
    return address (given here, kept as the shop's, or the one it kept before)."""
    case, order = await _shops(session, shop, public_id)
    _keep_return_address(shop, case, return_address)
    return await _agree(session, settings, case, order, shop, Actor.merchant, user_id)


def _keep_return_address(shop: Shop, case: AftersalesCase, given: str) -> None:
    """The address given becomes the shop's; goods to come back need one (given before)."""
    address = text.clean_line(given)
    if text.too_long(address, ADDRESS_MAX):
        raise InvalidInput(
            _("At most %(n)s characters.", n=ADDRESS_MAX),
            code="return_address_too_long",
            field="return_address",
        )
    if address:
        shop.return_address = address
    elif case.kind != Kind.refund_only and not shop.return_address:
        raise InvalidInput(
            _("Give the address the goods are to be sent back to."),
            code="return_address_required",
            field="return_address",
        )


async def _agree(
    session: AsyncSession,
    settings: Settings,
    case: AftersalesCase,
    order: Order,
    shop: Shop,
    actor: Actor,
    user_id: int | None,
) -> AftersalesCase:
    if case.kind == Kind.refund_only:
        return await outcomes.refund(session, settings, case, order, actor, user_id)
    return await states.move(
        session,
        case,
        Status.awaiting_return,
        actor=actor,
        user_id=user_id,
        note=shop.return_address,
        values={
            "return_address": shop.return_address,
            "due_at": clock.now() + timedelta(days=settings.aftersales_return_days),
        },
    )


async def propose(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    public_id: str,
    *,
    user_id: int,
    amount: int,
    note: str = "",
    return_address: str = "",
) -> AftersalesCase:
    """The shop offers to refund another amount (less than asked): the buyer accepts or not.
    Goods to come back need the shop's return address, as agreeing does."""
    case, _order = await _shops(session, shop, public_id)
    _keep_return_address(shop, case, return_address)
    if case.kind == Kind.exchange:
        raise Conflict(_("An exchange has no amount to offer."), code="exchange_has_no_amount")
    if type(amount) is not int or not 1 <= amount < case.amount:
        raise Conflict(
            _(
                "Offer less than the %(amount)s asked, and more than nothing.",
                amount=Money(case.amount, case.currency).format(),
            ),
            code="invalid_offer",
            field="amount",
        )
    offered = Money(amount, case.currency).format()
    return await states.move(
        session,
        case,
        Status.proposed,
        actor=Actor.merchant,
        user_id=user_id,
        note=f"{offered} {_clean_note(note)}".strip(),
        values={
            "proposed_amount": amount,
            "due_at": clock.now() + timedelta(days=settings.aftersales_return_days),
        },
    )


async def refuse(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    public_id: str,
    *,
    user_id: int,
    reason: str,
) -> AftersalesCase:
    """The shop refuses, with its reason (also on arrival of goods not as described); the
    buyer may escalate to the platform for a while."""
    case, _order = await _shops(session, shop, public_id)
    why = _clean_note(reason)
    if not why:
        raise InvalidInput(_("Say why you refuse."), code="refusal_reason_required", field="reason")
    return await states.move(
        session,
        case,
        Status.refused,
        actor=Actor.merchant,
        user_id=user_id,
        note=why,
        values={
            "refusal": why,
            "due_at": clock.now() + timedelta(days=settings.aftersales_escalate_days),
        },
    )


async def receive(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    public_id: str,
    *,
    user_id: int,
    carrier: str = "",
    tracking_number: str = "",
) -> AftersalesCase:
    """The goods came back: a return is refunded; an exchange ships its new item (carrier and
    tracking number required)."""
    case, order = await _shops(session, shop, public_id)
    if case.status != Status.returning:
        raise _cannot(case)
    if case.kind != Kind.exchange:
        return await outcomes.refund(session, settings, case, order, Actor.merchant, user_id)
    number = shipping.validate_tracking(carrier, tracking_number)
    await states.move(
        session,
        case,
        Status.exchanged,
        actor=Actor.merchant,
        user_id=user_id,
        note=f"{shipping.carrier_name(carrier)} {number}",
        values={"exchange_carrier": carrier, "exchange_tracking": number},
    )
    await outcomes.ended(session, settings, order)
    return case


# --- the buyer's steps --------------------------------------------------------------------------


async def accept(
    session: AsyncSession, settings: Settings, buyer: User, public_id: str
) -> AftersalesCase:
    """The buyer takes the shop's offer: as if the shop had agreed to that amount."""
    case, order = await _buyers(session, buyer, public_id)
    if case.status != Status.proposed or case.proposed_amount is None:
        raise _cannot(case)
    case.amount = case.proposed_amount
    shop = await session.get_one(Shop, case.shop_id)
    return await _agree(session, settings, case, order, shop, Actor.buyer, buyer.id)


async def decline(
    session: AsyncSession, settings: Settings, buyer: User, public_id: str
) -> AftersalesCase:
    """The buyer turns the offer down: the shop is asked again, its timer running anew."""
    case, _order = await _buyers(session, buyer, public_id)
    return await states.move(
        session,
        case,
        Status.requested,
        actor=Actor.buyer,
        user_id=buyer.id,
        values={
            "proposed_amount": None,
            "due_at": clock.now() + _silence(settings, Kind(case.kind), case.before_shipment),
        },
    )


async def send_back(
    session: AsyncSession,
    settings: Settings,
    buyer: User,
    public_id: str,
    *,
    carrier: str,
    tracking_number: str,
) -> AftersalesCase:
    """The buyer sent the goods back with a courier: the shop's turn to confirm arrival."""
    case, _order = await _buyers(session, buyer, public_id)
    if case.status != Status.awaiting_return:
        raise _cannot(case)
    number = shipping.validate_tracking(carrier, tracking_number)
    return await states.move(
        session,
        case,
        Status.returning,
        actor=Actor.buyer,
        user_id=buyer.id,
        note=f"{shipping.carrier_name(carrier)} {number}",
        values={
            "return_carrier": carrier,
            "return_tracking": number,
            "due_at": clock.now() + timedelta(days=settings.aftersales_confirm_days),
        },
    )


async def escalate(
    session: AsyncSession, settings: Settings, buyer: User, public_id: str, *, note: str = ""
) -> AftersalesCase:
    """The buyer asks the platform to decide after the shop refused."""
    case, _order = await _buyers(session, buyer, public_id)
    if case.status == Status.refused and case.due_at is not None and case.due_at <= clock.now():
        raise Conflict(_("The time to escalate this case has passed."), code="escalation_closed")
    return await states.move(
        session,
        case,
        Status.escalated,
        actor=Actor.buyer,
        user_id=buyer.id,
        note=_clean_note(note),
        values={"due_at": None},
    )


async def withdraw(
    session: AsyncSession, settings: Settings, buyer: User, public_id: str
) -> AftersalesCase:
    """The buyer withdraws the application (it still counts toward the line's limit)."""
    case, order = await _buyers(session, buyer, public_id)
    await states.move(session, case, Status.closed, actor=Actor.buyer, user_id=buyer.id)
    await outcomes.ended(session, settings, order)
    return case


# --- the platform's decision ---------------------------------------------------------------------


async def decide(
    session: AsyncSession,
    settings: Settings,
    operator: User,
    public_id: str,
    *,
    refund: bool,
    note: str,
) -> AftersalesCase:
    """An operator decides an escalated case: refund (the amount asked) or not, with a note
    both sides see."""
    if not await accounts.is_operator(session, operator):
        raise Forbidden(_("Only the platform's operators decide disputes."), code="not_operator")
    case, order = await _lock(session, await queries.get_or_404(session, public_id))
    why = _clean_note(note, DESCRIPTION_MAX)
    if not why:
        raise InvalidInput(
            _("Write down the decision's grounds."), code="note_required", field="note"
        )
    if case.status != Status.escalated:
        raise _cannot(case)
    case.decision_note = why
    if refund:
        return await outcomes.refund(
            session, settings, case, order, Actor.operator, operator.id, why
        )
    await states.move(
        session,
        case,
        Status.closed,
        actor=Actor.operator,
        user_id=operator.id,
        note=why,
        values={"decision_note": why},
    )
    await outcomes.ended(session, settings, order)
    return case


# --- timers ---------------------------------------------------------------------------------


async def act_on_time(session: AsyncSession, settings: Settings, case_id: int) -> bool:
    """A case whose timer ran out (a job step): a silent shop agrees, or refunds a return it
    did not confirm; a silent buyer's case closes. False when it was not due (moved
    meanwhile)."""
    found = await session.get(AftersalesCase, case_id)
    if found is None:
        return False
    case, order = await _lock(session, found)
    if case.due_at is None or case.due_at > clock.now():
        return False
    status = Status(case.status)
    if status == Status.requested:
        shop = await session.get_one(Shop, case.shop_id)
        if case.kind != Kind.refund_only and not shop.return_address:
            # Agreed, the buyer would have nowhere to send the goods: the platform decides.
            await states.move(
                session,
                case,
                Status.escalated,
                actor=Actor.system,
                note="no_return_address",
                values={"due_at": None},
            )
            return True
        await _agree(session, settings, case, order, shop, Actor.system, None)
    elif status == Status.returning:
        await outcomes.refund(session, settings, case, order, Actor.system, None)
    elif status in (Status.proposed, Status.awaiting_return, Status.refused):
        await states.move(session, case, Status.closed, actor=Actor.system, note="timed_out")
        await outcomes.ended(session, settings, order)
    else:
        return False
    return True


def _silence(settings: Settings, kind: Kind, before_shipment: bool) -> timedelta:
    """How long the shop may stay silent on a request before it is agreed for it."""
    if kind is Kind.refund_only and before_shipment:
        return timedelta(hours=settings.aftersales_silent_unshipped_hours)
    return timedelta(days=settings.aftersales_silent_days)


# --- reads ------------------------------------------------------------------------------------


async def _lock(session: AsyncSession, case: AftersalesCase) -> tuple[AftersalesCase, Order]:
    """The case's order locked (the money path's lock), and the case read again under it."""
    order = await orders.lock(session, case.order_id)
    fresh = await session.get_one(AftersalesCase, case.id, populate_existing=True)
    return fresh, order


async def _buyers(
    session: AsyncSession, buyer: User, public_id: str
) -> tuple[AftersalesCase, Order]:
    return await _lock(session, await queries.get_for_buyer_or_404(session, buyer, public_id))


async def _shops(session: AsyncSession, shop: Shop, public_id: str) -> tuple[AftersalesCase, Order]:
    return await _lock(session, await queries.get_for_shop_or_404(session, shop, public_id))


async def _line_or_404(session: AsyncSession, order: Order, line_id: str) -> OrderLine:
    line = await session.scalar(
        select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.public_id == line_id)
    )
    if line is None:
        raise NotFound(_("No such item in this order."), code="line_not_found", field="line_id")
    return line


def _clean_note(note: str, limit: int = NOTE_MAX) -> str:
    cleaned = text.clean_line(note)
    if text.too_long(cleaned, limit):
        raise InvalidInput(_("At most %(n)s characters.", n=limit), code="note_too_long")
    return cleaned


def _cannot(case: AftersalesCase) -> Conflict:
    return Conflict(
        _(
            "This after-sales case is “%(current)s”; that cannot be done now.",
            current=states.status_label(case.status),
        ),
        code="invalid_transition",
    )

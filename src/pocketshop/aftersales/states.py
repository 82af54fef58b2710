"""The after-sales state machine: one table of allowed moves and who may make each, a
conditional UPDATE per move (whoever loses a race changes nothing, and gets 409) and an
event row, which both sides see as the case's timeline.

    requested ──agree──▶ refunded (refund only) / awaiting_return (return, exchange)
        │ ├─propose─▶ proposed ──accept──▶ (as agree) ; ──decline──▶ requested
        │ └─refuse──▶ refused ──escalate──▶ escalated ──operator──▶ refunded / closed
    awaiting_return ──buyer ships──▶ returning ──received──▶ refunded / exchanged
                                         └──refuse (not as described)──▶ refused
Any waiting state may be closed by the buyer (withdrawn) or by its timer (jobs.py).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from pocketshop import clock, moves
from pocketshop.aftersales.models import AftersalesCase, AftersalesEvent
from pocketshop.db import table_of
from pocketshop.errors import Conflict
from pocketshop.i18n import N_, _
from pocketshop.notifications import service as notifications
from pocketshop.notifications.events import Event
from pocketshop.orders.models import Order


class Kind(StrEnum):
    refund_only = "refund_only"
    return_refund = "return_refund"
    exchange = "exchange"


class Status(StrEnum):
    requested = "requested"  # waiting for the shop
    proposed = "proposed"  # the shop offered another amount: waiting for the buyer
    awaiting_return = "awaiting_return"  # agreed: the buyer is to send the goods back
    returning = "returning"  # on their way back: waiting for the shop to confirm
    refused = "refused"  # the shop said no: the buyer may escalate
    escalated = "escalated"  # the platform decides
    refunded = "refunded"
    exchanged = "exchanged"
    closed = "closed"


class Actor(StrEnum):
    buyer = "buyer"
    merchant = "merchant"
    system = "system"
    operator = "operator"


class Reason(StrEnum):
    ordered_by_mistake = "ordered_by_mistake"
    not_received = "not_received"
    damaged = "damaged"
    quality = "quality"
    not_as_described = "not_as_described"
    missing_parts = "missing_parts"
    wrong_item = "wrong_item"
    other = "other"


OPEN = frozenset(
    {
        Status.requested,
        Status.proposed,
        Status.awaiting_return,
        Status.returning,
        Status.refused,
        Status.escalated,
    }
)

KIND_LABELS = {
    Kind.refund_only: N_("Refund only"),
    Kind.return_refund: N_("Return and refund"),
    Kind.exchange: N_("Exchange"),
}
STATUS_LABELS = {
    Status.requested: N_("Waiting for the shop"),
    Status.proposed: N_("The shop offered another amount"),
    Status.awaiting_return: N_("Agreed: send the goods back"),
    Status.returning: N_("Goods on their way back"),
    Status.refused: N_("Refused by the shop"),
    Status.escalated: N_("The platform is deciding"),
    Status.refunded: N_("Refunded"),
    Status.exchanged: N_("Exchanged"),
    Status.closed: N_("Closed"),
}
REASON_LABELS = {
    Reason.ordered_by_mistake: N_("Ordered by mistake / no longer wanted"),
    Reason.not_received: N_("Not received"),
    Reason.damaged: N_("Arrived damaged"),
    Reason.quality: N_("Quality problem"),
    Reason.not_as_described: N_("Not as described"),
    Reason.missing_parts: N_("Missing items or parts"),
    Reason.wrong_item: N_("Wrong item sent"),
    Reason.other: N_("Other"),
}

S, A = Status, Actor
WAITING = (S.requested, S.proposed, S.awaiting_return, S.refused)
# (from, to) -> who may make the move.
TRANSITIONS: dict[tuple[Status, Status], frozenset[Actor]] = {
    (S.requested, S.refunded): frozenset({A.merchant, A.system}),
    (S.requested, S.awaiting_return): frozenset({A.merchant, A.system}),
    (S.requested, S.proposed): frozenset({A.merchant}),
    (S.requested, S.refused): frozenset({A.merchant}),
    (S.proposed, S.refunded): frozenset({A.buyer}),
    (S.proposed, S.awaiting_return): frozenset({A.buyer}),
    (S.proposed, S.requested): frozenset({A.buyer}),
    (S.awaiting_return, S.returning): frozenset({A.buyer}),
    (S.returning, S.refunded): frozenset({A.merchant, A.system}),
    (S.returning, S.exchanged): frozenset({A.merchant}),
    (S.returning, S.refused): frozenset({A.merchant}),
    (S.refused, S.escalated): frozenset({A.buyer}),
    (S.escalated, S.refunded): frozenset({A.operator}),
    # The operator decides against it, or the buyer withdraws it.
    (S.escalated, S.closed): frozenset({A.operator, A.buyer}),
    # The shop stayed silent on goods to come back and never gave a return address.
    (S.requested, S.escalated): frozenset({A.system}),
    # Withdrawn by the buyer, or its time ran out.
    **{(waiting, S.closed): frozenset({A.buyer, A.system}) for waiting in WAITING},
}

_cases = table_of(AftersalesCase)
_events = table_of(AftersalesEvent)


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[Kind(kind)])


def status_label(status: str) -> str:
    return _(STATUS_LABELS[Status(status)])


def reason_label(reason: str) -> str:
    return _(REASON_LABELS[Reason(reason)])


def may(case: AftersalesCase, to: Status, actor: Actor) -> bool:
    """Whether `actor` may move the case to `to` now: pages offer only what works."""
    return actor in TRANSITIONS.get((Status(case.status), to), frozenset())


async def move(
    session: AsyncSession,
    case: AftersalesCase,
    to: Status,
    *,
    actor: Actor,
    user_id: int | None = None,
    note: str = "",
    values: dict[str, Any] | None = None,
) -> AftersalesCase:
    """Move the case along the table, or raise 409 and change nothing."""
    current = Status(case.status)
    allowed = TRANSITIONS.get((current, to))
    if allowed is None or actor not in allowed:
        raise Conflict(
            _(
                "This after-sales case is “%(current)s”; that cannot be done now.",
                current=status_label(current),
            ),
            code="invalid_transition",
        )
    now = clock.now()
    changes: dict[str, Any] = {"status": to.value, "updated_at": now, **(values or {})}
    if to not in OPEN:
        changes.update(closed_at=now, due_at=None)
    moved = await moves.move(
        session,
        _cases,
        case.id,
        current.value,
        changes,
        events=_events,
        subject_column="case_id",
        event={
            "shop_id": case.shop_id,
            "from_status": current.value,
            "to_status": to.value,
            "actor": actor.value,
            "actor_user_id": user_id,
            "note": note[:2000],
            "created_at": now,
        },
    )
    if not moved:
        raise Conflict(
            _("This after-sales case changed meanwhile. Reload and try again."),
            code="case_changed",
        )
    for name, value in changes.items():
        set_committed_value(case, name, value)  # as written: no second UPDATE at flush
    await _tell(session, case, to, actor, now)
    return case


async def _tell(
    session: AsyncSession, case: AftersalesCase, to: Status, actor: Actor, now: datetime
) -> None:
    """The other side hears of each step; both sides of what the system or the platform did."""
    number = await session.scalar(select(Order.number).where(Order.id == case.order_id))
    params = {"number": number, "case": case.public_id, "status_label": STATUS_LABELS[to]}
    key = f"{case.public_id}:{to.value}:{now.isoformat()}"
    if actor is not Actor.buyer:
        notifications.notify(
            session, Event.aftersales_step, key, {**params, "side": "buyer"}, user_id=case.buyer_id
        )
    if actor is not Actor.merchant:
        notifications.notify(
            session,
            Event.aftersales_step,
            key,
            {**params, "side": "merchant"},
            shop_id=case.shop_id,
        )


async def create(
    session: AsyncSession, values: dict[str, Any], *, user_id: int, note: str = ""
) -> int:
    """A new case (every column but the id) and its first event; its id."""
    case_id = await moves.create(
        session,
        _cases,
        values,
        events=_events,
        subject_column="case_id",
        event={
            "shop_id": values["shop_id"],
            "from_status": None,
            "to_status": values["status"],
            "actor": Actor.buyer.value,
            "actor_user_id": user_id,
            "note": note[:2000],
            "created_at": values["created_at"],
        },
    )
    if case_id is None:
        raise Conflict(_("Please try again."), code="try_again")
    case = await session.get_one(AftersalesCase, case_id)
    await _tell(session, case, Status(case.status), Actor.buyer, values["created_at"])
    return case_id

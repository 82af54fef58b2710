"""The state machines of payments, refunds and withdrawals: one table of allowed moves each,
a conditional UPDATE per move (whoever loses a race changes nothing) and an event row."""

from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from pocketshop import clock, moves
from pocketshop.db import attach, new_row, table_of
from pocketshop.errors import Conflict
from pocketshop.i18n import N_, _
from pocketshop.payments.models import MoneyEvent, Payment, Refund, Withdrawal


class PaymentStatus(StrEnum):
    created = "created"
    paid = "paid"
    failed = "failed"
    # Its order no longer waits for it: closed once the provider confirms it cannot be paid.
    closing = "closing"
    closed = "closed"
    refunded = "refunded"


class RefundStatus(StrEnum):
    requested = "requested"  # booked; the provider is asked to take it
    processing = "processing"  # the provider took it; its outcome comes later
    unknown = "unknown"  # the provider's answer was lost or unclear: asked how it went
    succeeded = "succeeded"
    failed = "failed"


class WithdrawalStatus(StrEnum):
    requested = "requested"
    unknown = "unknown"  # the bank's answer was lost or unclear: asked how it went
    paid = "paid"
    failed = "failed"


# Not final: a sweep drives them on until they are.
OPEN_PAYMENTS = (PaymentStatus.created, PaymentStatus.closing)
OPEN_REFUNDS = (RefundStatus.requested, RefundStatus.processing, RefundStatus.unknown)
OPEN_WITHDRAWALS = (WithdrawalStatus.requested, WithdrawalStatus.unknown)

REFUND_STATUS_LABELS = {
    RefundStatus.requested: N_("On its way back"),
    RefundStatus.processing: N_("On its way back"),
    RefundStatus.unknown: N_("On its way back"),
    RefundStatus.succeeded: N_("Refunded"),
    RefundStatus.failed: N_("Failed"),
}
WITHDRAWAL_STATUS_LABELS = {
    WithdrawalStatus.requested: N_("On its way to the bank"),
    WithdrawalStatus.unknown: N_("On its way to the bank"),
    WithdrawalStatus.paid: N_("Arrived"),
    WithdrawalStatus.failed: N_("Failed, money returned"),
}


def refund_status(status: str) -> str:
    return _(REFUND_STATUS_LABELS[RefundStatus(status)])


def withdrawal_status(status: str) -> str:
    return _(WITHDRAWAL_STATUS_LABELS[WithdrawalStatus(status)])


P, R, W = PaymentStatus, RefundStatus, WithdrawalStatus
PAYMENT_MOVES = {
    (P.created, P.paid),
    (P.created, P.failed),
    (P.created, P.closing),
    (P.created, P.closed),
    (P.closing, P.closed),
    # The provider took the money after all: it is captured, and returned unless its order
    # still waits for it.
    (P.closing, P.paid),
    (P.failed, P.paid),
    (P.closed, P.paid),
    (P.paid, P.refunded),
}
REFUND_MOVES = {
    (R.requested, R.processing),
    (R.requested, R.unknown),
    (R.unknown, R.processing),
    *((before, after) for before in OPEN_REFUNDS for after in (R.succeeded, R.failed)),
}
WITHDRAWAL_MOVES = {
    (W.requested, W.unknown),
    *((before, after) for before in OPEN_WITHDRAWALS for after in (W.paid, W.failed)),
}


def _by_value(moves: set[tuple[Any, Any]]) -> frozenset[tuple[str, str]]:
    """The moves as the status strings rows hold, so a check is one set lookup."""
    return frozenset((before.value, after.value) for before, after in moves)


Row = TypeVar("Row", Payment, Refund, Withdrawal)
Machine = tuple[type[Payment] | type[Refund] | type[Withdrawal], frozenset[tuple[str, str]], str]
MACHINES: dict[type, Machine] = {
    Payment: (Payment, _by_value(PAYMENT_MOVES), "payment"),
    Refund: (Refund, _by_value(REFUND_MOVES), "refund"),
    Withdrawal: (Withdrawal, _by_value(WITHDRAWAL_MOVES), "withdrawal"),
}


_events = table_of(MoneyEvent)


def allowed(row: Payment | Refund | Withdrawal, to: StrEnum) -> bool:
    _model, moves, _subject = MACHINES[type(row)]
    return (row.status, to.value) in moves


async def move(
    session: AsyncSession,
    row: Payment | Refund | Withdrawal,
    to: StrEnum,
    *,
    actor: str,
    reason: str = "",
    values: dict[str, Any] | None = None,
) -> bool:
    """Move `row` to `to` if the table allows it and nobody moved it meanwhile; False (and
    nothing changed) when somebody did. A move the table forbids raises 409."""
    model, _moves, subject = MACHINES[type(row)]
    current = row.status
    if not allowed(row, to):
        raise Conflict(_("This cannot be done in its current state."), code="invalid_transition")
    changes = {"status": to.value, **(values or {})}
    moved = await moves.move(
        session,
        table_of(model),
        row.id,
        current,
        changes,
        events=_events,
        subject_column="subject_id",
        event={
            "subject": subject,
            "from_status": current,
            "to_status": to.value,
            "actor": actor,
            "reason": reason,
            "created_at": clock.now(),
        },
    )
    if not moved:
        return False
    for name, value in changes.items():
        set_committed_value(row, name, value)  # as written: no second UPDATE at flush
    return True


async def create(
    session: AsyncSession, model: type[Row], values: dict[str, Any], *, actor: str
) -> Row | None:
    """A new row and its first event, in this session as if loaded; None, and nothing
    written, when it clashed with a unique constraint. `values`: every column but the id and
    those `new_row` fills in."""
    _model, _moves, subject = MACHINES[model]
    table = table_of(model)
    values = new_row(table, values)
    row_id = await moves.create(
        session,
        table,
        values,
        events=_events,
        subject_column="subject_id",
        event={
            "subject": subject,
            "from_status": None,
            "to_status": values["status"],
            "actor": actor,
            "reason": "",
            "created_at": clock.now(),
        },
    )
    if row_id is None:
        return None
    return attach(session, model, {"id": row_id, **values})

"""What the operator must look at: a notice for an amount that is not the payment's, or for
a merchant or app that is not ours; a payment returned (late, twice, of no order we know); a
refund the provider refused or changed its mind about; an operation still not final after
many tries. The operator looks (`pocketshop payments anomalies`; a shop's own on its money
page), puts it right with the provider or the shop, and marks it resolved."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.errors import Conflict, NotFound
from pocketshop.i18n import _
from pocketshop.orders.models import Order
from pocketshop.payments.models import Payment, PaymentAnomaly


async def record(
    session: AsyncSession,
    *,
    provider: str,
    kind: str,
    details: dict[str, Any],
    payment_id: int | None = None,
    notice_id: int | None = None,
    shop_id: int | None = None,
) -> PaymentAnomaly:
    found = PaymentAnomaly(
        provider=provider,
        kind=kind,
        shop_id=shop_id,
        payment_id=payment_id,
        notice_id=notice_id,
        details=details,
        created_at=clock.now(),
    )
    session.add(found)
    await session.flush()
    return found


@dataclass(frozen=True)
class Listed:
    anomaly: PaymentAnomaly
    # The payment's trade number and order, when it concerns a payment we know.
    out_trade_no: str | None
    order_number: str | None


async def listed(
    session: AsyncSession, *, include_resolved: bool = False, limit: int = 100
) -> list[Listed]:
    """Newest first; the open ones only unless `include_resolved`."""
    statement = (
        select(PaymentAnomaly, Payment.out_trade_no, Order.number)
        .outerjoin(Payment, Payment.id == PaymentAnomaly.payment_id)
        .outerjoin(Order, Order.id == Payment.order_id)
        .order_by(PaymentAnomaly.id.desc())
        .limit(limit)
    )
    if not include_resolved:
        statement = statement.where(PaymentAnomaly.resolved_at.is_(None))
    rows = await session.execute(statement)
    return [Listed(anomaly, out_trade_no, number) for anomaly, out_trade_no, number in rows]


async def of_shop(session: AsyncSession, shop_id: int, *, limit: int = 20) -> list[PaymentAnomaly]:
    """A shop's open anomalies, newest first: what needs attention on its money page."""
    return list(
        await session.scalars(
            select(PaymentAnomaly)
            .where(PaymentAnomaly.shop_id == shop_id, PaymentAnomaly.resolved_at.is_(None))
            .order_by(PaymentAnomaly.id.desc())
            .limit(limit)
        )
    )


async def resolve(session: AsyncSession, anomaly_id: int) -> PaymentAnomaly:
    """Mark it looked into; 404 when there is no such anomaly, 409 when it was resolved."""
    found = await session.get(PaymentAnomaly, anomaly_id)
    if found is None:
        raise NotFound(_("No payment anomaly #%(id)s.", id=anomaly_id), code="anomaly_not_found")
    # Conditional: of two operators resolving it at once, one does.
    result = await session.execute(
        update(PaymentAnomaly)
        .where(PaymentAnomaly.id == anomaly_id, PaymentAnomaly.resolved_at.is_(None))
        .values(resolved_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            _("Payment anomaly #%(id)s was resolved before.", id=anomaly_id), code="resolved_before"
        )
    await session.refresh(found)
    return found

"""Whether a buyer may apply for after-sales on an order line now, and for what: the one place
these rules are written. `service.apply` refuses by them; the buyer's pages offer by them, so
a page never offers what the service would refuse, nor hides what it would take."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.aftersales.models import AftersalesCase
from pocketshop.aftersales.states import OPEN, Kind, Status
from pocketshop.config import Settings
from pocketshop.errors import Conflict
from pocketshop.i18n import _
from pocketshop.money import Money
from pocketshop.orders.models import Order, OrderLine
from pocketshop.orders.service import OrderStatus
from pocketshop.payments import escrow

# An application is about goods the buyer has, or paid for and is waiting for.
APPLICABLE = (
    OrderStatus.paid,
    OrderStatus.partially_shipped,
    OrderStatus.shipped,
    OrderStatus.completed,
)


@dataclass(frozen=True)
class Applicable:
    """What one line may be applied for now."""

    # The kinds allowed, each with the most units it may take back.
    most: Mapping[Kind, int]
    # Why each other kind is refused (what `service.apply` raises).
    refusals: Mapping[Kind, Conflict]
    # Units not refunded by an earlier case.
    left: int
    # What refunds may still take of the order (escrow.refundable).
    refundable: int

    @property
    def kinds(self) -> tuple[Kind, ...]:
        return tuple(self.most)

    @property
    def reason(self) -> Conflict | None:
        """Why nothing may be applied for; None when something may. A refund only needs
        nothing shipped, so its refusal is the one that holds for every kind."""
        return None if self.most else self.refusals[Kind.refund_only]


def judge(
    settings: Settings,
    order: Order,
    line: OrderLine,
    cases: Sequence[AftersalesCase],
    refundable: int,
) -> Applicable:
    """The rules, on what was read: `cases` are the line's, `refundable` the order's. Each
    kind's refusal is the first that applies, in the order `service.apply` always gave them."""
    left = line.quantity - sum(case.quantity for case in cases if case.status == Status.refunded)
    of_order = _order_refusal(settings, order)
    of_line = _line_refusal(settings, cases)
    most: dict[Kind, int] = {}
    refusals: dict[Kind, Conflict] = {}
    for kind in Kind:
        # Goods go back (returned, exchanged) only as many as were shipped.
        units = left if kind is Kind.refund_only else min(left, line.shipped_quantity)
        refusal = of_order
        if refusal is None and kind is not Kind.refund_only and line.shipped_quantity == 0:
            refusal = Conflict(
                _("Nothing is delivered for this order: ask for a refund only.")
                if order.no_delivery
                else _("This item has not been shipped yet: ask for a refund only."),
                code="not_shipped",
                field="kind",
            )
        refusal = refusal or of_line
        if refusal is None and units < 1:
            refusal = too_many_units(units)
        if refusal is None and refundable < 1:
            # Everything paid went back already: an exchange too would give goods for nothing.
            refusal = too_much_money(0, order.currency)
        if refusal is None:
            most[kind] = units
        else:
            refusals[kind] = refusal
    return Applicable(most=most, refusals=refusals, left=left, refundable=refundable)


async def applicable(
    session: AsyncSession, settings: Settings, order: Order, line: OrderLine
) -> Applicable:
    """What `line` of `order` may be applied for now (its cases read afresh: under the order's
    lock, another request may have just changed them)."""
    cases = list(
        await session.scalars(
            select(AftersalesCase).where(AftersalesCase.order_line_id == line.id),
            execution_options={"populate_existing": True},
        )
    )
    return judge(settings, order, line, cases, await escrow.refundable(session, settings, order))


async def applicable_to(
    session: AsyncSession,
    settings: Settings,
    order: Order,
    lines: Sequence[OrderLine],
    cases: Sequence[AftersalesCase],
) -> dict[int, Applicable]:
    """`applicable` for every line of an order at once, by line id, on the order's `cases`
    as a page read them."""
    refundable = await escrow.refundable(session, settings, order)
    return {
        line.id: judge(
            settings,
            order,
            line,
            [case for case in cases if case.order_line_id == line.id],
            refundable,
        )
        for line in lines
    }


def too_many_units(most: int) -> Conflict:
    return Conflict(
        _("At most %(n)s can be returned of this item.", n=max(most, 0)),
        code="quantity_too_large",
        field="quantity",
    )


def too_much_money(most: int, currency: str) -> Conflict:
    return Conflict(
        _(
            "At most %(amount)s can be refunded for this.",
            amount=Money(most, currency).format(),
        ),
        code="refund_too_large",
        field="amount",
    )


def _order_refusal(settings: Settings, order: Order) -> Conflict | None:
    if order.status == OrderStatus.pending_payment:
        return escrow.not_paid()
    if order.status not in APPLICABLE:
        return Conflict(_("This order is closed."), code="order_closed")
    if order.completed_at is not None and clock.now() > order.completed_at + timedelta(
        days=settings.aftersales_days
    ):
        return Conflict(
            _("The after-sales window of this order has closed."), code="aftersales_closed"
        )
    return None


def _line_refusal(settings: Settings, cases: Sequence[AftersalesCase]) -> Conflict | None:
    if any(Status(case.status) in OPEN for case in cases):
        return Conflict(_("An after-sales case is already open for this item."), code="case_open")
    if len(cases) >= settings.aftersales_max_per_line:
        return Conflict(
            _(
                "At most %(n)s after-sales applications can be made for one item.",
                n=settings.aftersales_max_per_line,
            ),
            code="too_many_applications",
        )
    return None

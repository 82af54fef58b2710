"""After-sales reads: a case as its buyer, its shop or an operator may see it, lists, the
timeline, and what the order pages show."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.models import User
from pocketshop.aftersales.models import AftersalesCase, AftersalesEvent, AftersalesPhoto
from pocketshop.aftersales.states import OPEN, Status
from pocketshop.errors import NotFound
from pocketshop.i18n import _
from pocketshop.orders.models import Order, OrderLine
from pocketshop.payments.models import Refund
from pocketshop.shops.models import Shop


async def get_for_buyer_or_404(
    session: AsyncSession, buyer: User, public_id: str
) -> AftersalesCase:
    case = await session.scalar(
        select(AftersalesCase).where(
            AftersalesCase.public_id == public_id, AftersalesCase.buyer_id == buyer.id
        )
    )
    if case is None:
        raise not_found()
    return case


async def get_for_shop_or_404(session: AsyncSession, shop: Shop, public_id: str) -> AftersalesCase:
    case = await session.scalar(
        select(AftersalesCase).where(
            AftersalesCase.public_id == public_id, AftersalesCase.shop_id == shop.id
        )
    )
    if case is None:
        raise not_found()
    return case


async def get_or_404(session: AsyncSession, public_id: str) -> AftersalesCase:
    case = await session.scalar(select(AftersalesCase).where(AftersalesCase.public_id == public_id))
    if case is None:
        raise not_found()
    return case


def not_found() -> NotFound:
    return NotFound(_("No such after-sales case."), code="case_not_found")


async def refunded_quantities(session: AsyncSession, order_id: int) -> dict[int, int]:
    """Per order line, the quantity cases refunded."""
    rows = await session.execute(
        select(AftersalesCase.order_line_id, func.sum(AftersalesCase.quantity))
        .where(
            AftersalesCase.order_id == order_id,
            AftersalesCase.status == Status.refunded.value,
        )
        .group_by(AftersalesCase.order_line_id)
    )
    return {line_id: int(quantity) for line_id, quantity in rows}


async def cases_of_order(session: AsyncSession, order_id: int) -> list[AftersalesCase]:
    return list(
        await session.scalars(
            select(AftersalesCase)
            .where(AftersalesCase.order_id == order_id)
            .order_by(AftersalesCase.id)
        )
    )


async def events_of(session: AsyncSession, case: AftersalesCase) -> list[AftersalesEvent]:
    return list(
        await session.scalars(
            select(AftersalesEvent)
            .where(AftersalesEvent.case_id == case.id)
            .order_by(AftersalesEvent.id)
        )
    )


async def photos_of(session: AsyncSession, case: AftersalesCase) -> list[AftersalesPhoto]:
    return list(
        await session.scalars(
            select(AftersalesPhoto)
            .where(AftersalesPhoto.case_id == case.id)
            .order_by(AftersalesPhoto.position)
        )
    )


async def list_cases(
    session: AsyncSession,
    *,
    shop: Shop | None = None,
    buyer: User | None = None,
    statuses: Sequence[Status] = (),
    limit: int = 50,
    offset: int = 0,
) -> list[AftersalesCase]:
    """A shop's, a buyer's, or (neither given: the operator's) every case, newest first."""
    query = select(AftersalesCase)
    if shop is not None:
        query = query.where(AftersalesCase.shop_id == shop.id)
    if buyer is not None:
        query = query.where(AftersalesCase.buyer_id == buyer.id)
    if statuses:
        query = query.where(AftersalesCase.status.in_([status.value for status in statuses]))
    return list(
        await session.scalars(
            query.order_by(AftersalesCase.created_at.desc(), AftersalesCase.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


async def named_files(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these media keys a committed case photo names (media.tidy)."""
    found: set[str] = set()
    for key, thumb in await session.execute(
        select(AftersalesPhoto.key, AftersalesPhoto.thumb_key).where(
            (AftersalesPhoto.key.in_(keys)) | (AftersalesPhoto.thumb_key.in_(keys))
        )
    ):
        found |= {key, thumb} & set(keys)
    return found


async def count(session: AsyncSession, shop: Shop, statuses: Sequence[Status]) -> int:
    """How many of the shop's cases are in these states (the console's badge)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AftersalesCase)
            .where(
                AftersalesCase.shop_id == shop.id,
                AftersalesCase.status.in_([status.value for status in statuses]),
            )
        )
        or 0
    )


async def open_on_order(session: AsyncSession, order_id: int) -> int:
    """How many cases are open on the order (what its `aftersales_open` flag says)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AftersalesCase)
            .where(
                AftersalesCase.order_id == order_id,
                AftersalesCase.status.in_([status.value for status in OPEN]),
            )
        )
        or 0
    )


async def decided(session: AsyncSession, *, limit: int) -> list[AftersalesCase]:
    """Cases the platform decided, the latest decisions first (the operators' page)."""
    return list(
        await session.scalars(
            select(AftersalesCase)
            .where(AftersalesCase.decision_note != "")
            .order_by(AftersalesCase.closed_at.desc(), AftersalesCase.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class CaseView:
    case: AftersalesCase
    order_number: str
    line: OrderLine
    refund_public_id: str | None


async def views(session: AsyncSession, cases: Sequence[AftersalesCase]) -> list[CaseView]:
    """Each case with its order's number, its line and its refund, in one query."""
    if not cases:
        return []
    rows = await session.execute(
        select(AftersalesCase.id, Order.number, OrderLine, Refund.public_id)
        .join(Order, Order.id == AftersalesCase.order_id)
        .join(OrderLine, OrderLine.id == AftersalesCase.order_line_id)
        .outerjoin(Refund, Refund.id == AftersalesCase.refund_id)
        .where(AftersalesCase.id.in_([case.id for case in cases]))
    )
    found = {case_id: (number, line, refund) for case_id, number, line, refund in rows}
    return [CaseView(case, *found[case.id]) for case in cases]


async def open_by_line(session: AsyncSession, order_id: int) -> dict[int, AftersalesCase]:
    """The case open on each line of the order, if any (the order page links to it)."""
    return {
        case.order_line_id: case
        for case in await cases_of_order(session, order_id)
        if Status(case.status) in OPEN
    }

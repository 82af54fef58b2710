"""The after-sales API: the buyer applies and answers, the shop answers."""

from typing import Annotated

from fastapi import Depends, File, Query, Request, UploadFile, status
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import media
from pocketshop.accounts.deps import ApiUser, api_user_in, bearer_scheme
from pocketshop.aftersales import photos as case_photos
from pocketshop.aftersales import queries, service, states
from pocketshop.aftersales.models import AftersalesCase
from pocketshop.aftersales.queries import CaseView
from pocketshop.aftersales.schemas import (
    AgreeIn,
    CaseEventOut,
    CaseIn,
    CaseListOut,
    CaseOut,
    EscalateIn,
    PhotoOut,
    ProposeIn,
    ReceiveIn,
    RefuseIn,
    ShipmentIn,
)
from pocketshop.aftersales.states import OPEN, Actor, Kind, Reason, Status
from pocketshop.guessing.deps import LimitMisses
from pocketshop.shops.deps import MerchantShop
from pocketshop.web.routing import AppSettings, Session, api_router, outside_router, unit

router = api_router(prefix="/api/v1", tags=["aftersales"])
outside = outside_router(prefix="/api/v1", tags=["aftersales"])

PER_PAGE = 20
Page = Annotated[int, Query(ge=1, le=10_000)]
StatusFilter = Annotated[
    Status | None, Query(description="one state; omit for every case, open ones first")
]


async def case_out(session: AsyncSession, view: CaseView, *, detail: bool = True) -> CaseOut:
    case = view.case
    photos = events = None
    if detail:
        photos = [
            PhotoOut(url=media.url(photo.key), thumb_url=media.url(photo.thumb_key))
            for photo in await queries.photos_of(session, case)
        ]
        events = [
            CaseEventOut(
                from_status=Status(event.from_status) if event.from_status else None,
                to_status=Status(event.to_status),
                status_label=states.status_label(event.to_status),
                actor=Actor(event.actor),
                note=event.note,
                at=event.created_at,
            )
            for event in await queries.events_of(session, case)
        ]
    return CaseOut(
        id=case.public_id,
        order_number=view.order_number,
        line_id=view.line.public_id,
        title=view.line.title,
        kind=Kind(case.kind),
        kind_label=states.kind_label(case.kind),
        status=Status(case.status),
        status_label=states.status_label(case.status),
        open=Status(case.status) in OPEN,
        quantity=case.quantity,
        amount=case.amount,
        proposed_amount=case.proposed_amount,
        currency=case.currency,
        reason=Reason(case.reason),
        reason_label=states.reason_label(case.reason),
        description=case.description,
        before_shipment=case.before_shipment,
        return_address=case.return_address,
        return_carrier=case.return_carrier,
        return_tracking=case.return_tracking,
        exchange_carrier=case.exchange_carrier,
        exchange_tracking=case.exchange_tracking,
        refusal=case.refusal,
        decision_note=case.decision_note,
        refund_id=view.refund_public_id,
        created_at=case.created_at,
        due_at=case.due_at,
        closed_at=case.closed_at,
        photos=photos,
        events=events,
    )


async def one_out(session: AsyncSession, case: AftersalesCase) -> CaseOut:
    (view,) = await queries.views(session, [case])
    return await case_out(session, view)


async def list_out(session: AsyncSession, cases: list[AftersalesCase], page: int) -> CaseListOut:
    return CaseListOut(
        items=[
            await case_out(session, view, detail=False)
            for view in await queries.views(session, cases[:PER_PAGE])
        ],
        page=page,
        has_next=len(cases) > PER_PAGE,
    )


# --- the buyer's ---------------------------------------------------------------------------------


@router.post(
    "/orders/{number}/aftersales", status_code=status.HTTP_201_CREATED, dependencies=[LimitMisses]
)
async def apply(
    number: str, body: CaseIn, session: Session, user: ApiUser, settings: AppSettings
) -> CaseOut:
    """Ask for a refund, a return or an exchange of one line of your order. Photos are added
    with `POST /api/v1/aftersales/{case_id}/photos`."""
    case = await service.apply(
        session,
        settings,
        user,
        number,
        service.Application(
            line_id=body.line_id,
            kind=body.kind,
            quantity=body.quantity,
            reason=body.reason,
            description=body.description,
            amount=None if body.kind is Kind.exchange else body.amount,
        ),
    )
    return await one_out(session, case)


@router.get("/aftersales")
async def list_mine(
    session: Session, user: ApiUser, page: Page = 1, status: StatusFilter = None
) -> CaseListOut:
    cases = await queries.list_cases(
        session,
        buyer=user,
        statuses=(status,) if status else (),
        limit=PER_PAGE + 1,
        offset=(page - 1) * PER_PAGE,
    )
    return await list_out(session, cases, page)


@router.get("/aftersales/{case_id}")
async def get_mine(case_id: str, session: Session, user: ApiUser) -> CaseOut:
    return await one_out(session, await queries.get_for_buyer_or_404(session, user, case_id))


@outside.post(
    "/aftersales/{case_id}/photos",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(bearer_scheme)],
)
async def add_photos(
    case_id: str,
    request: Request,
    images: Annotated[list[UploadFile], File(description="up to 9 photos in all")],
) -> CaseOut:
    """Photos of the problem, decoded before the transaction that records them."""
    await case_photos.add(request, api_user_in, case_id, images)
    async with unit(request, write=False) as session:
        user = await api_user_in(session, request)
        return await one_out(session, await queries.get_for_buyer_or_404(session, user, case_id))


@router.post("/aftersales/{case_id}/accept")
async def accept(case_id: str, session: Session, user: ApiUser, settings: AppSettings) -> CaseOut:
    """Take the shop's offer of another amount."""
    return await one_out(session, await service.accept(session, settings, user, case_id))


@router.post("/aftersales/{case_id}/decline")
async def decline(case_id: str, session: Session, user: ApiUser, settings: AppSettings) -> CaseOut:
    """Turn the shop's offer down: the shop is asked again."""
    return await one_out(session, await service.decline(session, settings, user, case_id))


@router.post("/aftersales/{case_id}/return-shipment")
async def send_back(
    case_id: str, body: ShipmentIn, session: Session, user: ApiUser, settings: AppSettings
) -> CaseOut:
    """You sent the goods back: the courier and its tracking number."""
    case = await service.send_back(
        session,
        settings,
        user,
        case_id,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
    )
    return await one_out(session, case)


@router.post("/aftersales/{case_id}/escalate")
async def escalate(
    case_id: str,
    session: Session,
    user: ApiUser,
    settings: AppSettings,
    body: EscalateIn | None = None,
) -> CaseOut:
    """Ask the platform to decide, after the shop refused (a note is optional)."""
    note = body.note if body else ""
    case = await service.escalate(session, settings, user, case_id, note=note)
    return await one_out(session, case)


@router.post("/aftersales/{case_id}/withdraw")
async def withdraw(case_id: str, session: Session, user: ApiUser, settings: AppSettings) -> CaseOut:
    return await one_out(session, await service.withdraw(session, settings, user, case_id))


# --- the shop's ----------------------------------------------------------------------------------


@router.get("/me/shop/aftersales")
async def list_shops(
    session: Session, shop: MerchantShop, page: Page = 1, status: StatusFilter = None
) -> CaseListOut:
    cases = await queries.list_cases(
        session,
        shop=shop,
        statuses=(status,) if status else (),
        limit=PER_PAGE + 1,
        offset=(page - 1) * PER_PAGE,
    )
    return await list_out(session, cases, page)


@router.get("/me/shop/aftersales/{case_id}")
async def get_shops(case_id: str, session: Session, shop: MerchantShop) -> CaseOut:
    return await one_out(session, await queries.get_for_shop_or_404(session, shop, case_id))


@router.post("/me/shop/aftersales/{case_id}/agree")
async def agree(
    case_id: str,
    session: Session,
    shop: MerchantShop,
    user: ApiUser,
    settings: AppSettings,
    body: AgreeIn | None = None,
) -> CaseOut:
    """Agree: a refund only goes back now; a return or exchange waits for the goods."""
    case = await service.agree(
        session,
        settings,
        shop,
        case_id,
        user_id=user.id,
        return_address=body.return_address if body else "",
    )
    return await one_out(session, case)


@router.post("/me/shop/aftersales/{case_id}/propose")
async def propose(
    case_id: str,
    body: ProposeIn,
    session: Session,
    shop: MerchantShop,
    user: ApiUser,
    settings: AppSettings,
) -> CaseOut:
    """Offer to refund less than asked: the buyer accepts or declines."""
    case = await service.propose(
        session,
        settings,
        shop,
        case_id,
        user_id=user.id,
        amount=body.amount,
        note=body.note,
        return_address=body.return_address,
    )
    return await one_out(session, case)


@router.post("/me/shop/aftersales/{case_id}/refuse")
async def refuse(
    case_id: str,
    body: RefuseIn,
    session: Session,
    shop: MerchantShop,
    user: ApiUser,
    settings: AppSettings,
) -> CaseOut:
    """Refuse, saying why (also when returned goods are not as described)."""
    case = await service.refuse(
        session, settings, shop, case_id, user_id=user.id, reason=body.reason
    )
    return await one_out(session, case)


@router.post("/me/shop/aftersales/{case_id}/receive")
async def receive(
    case_id: str,
    session: Session,
    shop: MerchantShop,
    user: ApiUser,
    settings: AppSettings,
    body: ReceiveIn | None = None,
) -> CaseOut:
    """The goods came back: a return is refunded; an exchange ships its new item."""
    case = await service.receive(
        session,
        settings,
        shop,
        case_id,
        user_id=user.id,
        carrier=body.carrier if body else "",
        tracking_number=body.tracking_number if body else "",
    )
    return await one_out(session, case)

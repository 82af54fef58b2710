"""The buyer's after-sales pages: the application form (its photos decoded before the
transaction that records them), their cases, and a case with its timeline and the steps open
to them now.

A refused form shows again with what was typed and the message next to its field; the refused
step changed nothing (its savepoint, or its unit, rolled back).
"""

from collections.abc import Mapping
from typing import Annotated

from fastapi import File, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import PageUser, page_user_in
from pocketshop.accounts.models import User
from pocketshop.aftersales import display, queries, service
from pocketshop.aftersales import photos as case_photos
from pocketshop.aftersales.states import KIND_LABELS, REASON_LABELS, Actor, Kind, Reason, Status
from pocketshop.errors import AppError, NotFound
from pocketshop.guessing.deps import LimitMisses
from pocketshop.i18n import _
from pocketshop.money import format_fen, yuan_text
from pocketshop.orders import service as orders
from pocketshop.shops import service as shops
from pocketshop.web.routing import (
    AppSettings,
    Session,
    get_settings,
    outside_page_router,
    page_router,
    unit,
)
from pocketshop.web.templating import render

router = page_router()
# The application takes photos: decoded before its transaction (see OutsideRoute).
outside = outside_page_router()

PER_PAGE = 20
PageNumber = Annotated[int, Query(ge=1, le=10_000)]
LineParam = Annotated[str, Query(max_length=64)]


async def buyer_in(session: AsyncSession, request: Request) -> User:
    """The logged-in buyer, for the units of the application's OutsideRoute."""
    return await page_user_in(session, request, get_settings(request))


# --- applying ---------------------------------------------------------------------------------


async def form_page(
    request: Request,
    session: AsyncSession,
    user: User,
    number: str,
    line_id: str,
    *,
    error: AppError | None = None,
    typed: Mapping[str, str] | None = None,
) -> Response:
    order = await orders.get_for_buyer_or_404(session, user, number)
    lines = await orders.lines_of(session, order)
    line = next((line for line in lines if line.public_id == line_id), None)
    if line is None:
        raise NotFound(_("No such item in this order."), code="line_not_found")
    on_order = await display.for_buyer(session, get_settings(request), order, lines)
    opened = on_order.open_on(line)
    if opened is not None and error is None:
        return display.see_other(f"/me/aftersales/{opened.public_id}")
    allowed = on_order.allowed[line.id]
    shipped = line.shipped_quantity > 0
    left = allowed.left
    return render(
        request,
        "aftersales/store_apply.html",
        {
            "order": order,
            "line": line,
            "line_image": display.image_of(line),
            "shop": await shops.get(session, order.shop_id),
            "shipped": shipped,
            "kinds": [(kind.value, _(KIND_LABELS[kind])) for kind in allowed.kinds],
            "reasons": [(reason.value, _(label)) for reason, label in REASON_LABELS.items()],
            "left": left,
            # What all that is left is worth; the service works out the exact sum (with the
            # shipping fee when everything goes back unshipped) when the field stays empty.
            "worth": yuan_text(line.line_total * left // line.quantity),
            "max_photos": service.MAX_PHOTOS,
            "description_max": service.DESCRIPTION_MAX,
            "typed": typed
            or {"quantity": str(left), "kind": "" if shipped else Kind.refund_only.value},
            "fen": format_fen,
        },
        # Nothing may be applied for: the page says why, as the service would refuse.
        error=error or allowed.reason,
    )


@router.get("/me/orders/{number}/aftersales/new", dependencies=[LimitMisses])
async def new_case(
    number: str, request: Request, session: Session, user: PageUser, line: LineParam = ""
) -> Response:
    return await form_page(request, session, user, number, line)


def application_of(typed: Mapping[str, str]) -> service.Application:
    """The form as the service takes it; a field that is not even of the right kind is
    refused here, with its name."""
    kind = display.choice(Kind, typed.get("kind", ""), _("Choose what you ask for."), "kind")
    quantity = display.whole_number(typed.get("quantity", ""), "quantity")
    reason = display.choice(Reason, typed.get("reason", ""), _("Choose a reason."), "reason")
    # Empty: what the quantity is worth. An exchange refunds nothing unless it ends in a refund.
    amount_text = typed.get("amount", "").strip()
    amount = display.yuan(amount_text) if amount_text and kind is not Kind.exchange else None
    return service.Application(
        line_id=typed.get("line", ""),
        kind=kind,
        quantity=quantity,
        reason=reason,
        description=typed.get("description", ""),
        amount=amount,
    )


@outside.post("/me/orders/{number}/aftersales", dependencies=[LimitMisses])
async def apply(
    number: str,
    request: Request,
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    typed = display.typed_of(await request.form())
    try:
        async with unit(request, write=False) as session:
            await buyer_in(session, request)  # who asks, before any photo is decoded
        case_id = await case_photos.apply(
            request, buyer_in, number, application_of(typed), photos or []
        )
    except AppError as error:
        # The unit that would have recorded the case rolled back, photos and all.
        async with unit(request, write=False) as session:
            user = await buyer_in(session, request)
            return await form_page(
                request, session, user, number, typed.get("line", ""), error=error, typed=typed
            )
    return display.see_other(f"/me/aftersales/{case_id}")


# --- the buyer's cases ------------------------------------------------------------------------


@router.get("/me/aftersales")
async def my_cases(
    request: Request, session: Session, user: PageUser, page: PageNumber = 1
) -> Response:
    cases = await queries.list_cases(
        session, buyer=user, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE
    )
    shown = cases[:PER_PAGE]
    by_id = await shops.by_ids(session, {case.shop_id for case in shown})
    return render(
        request,
        "aftersales/store_cases.html",
        {
            "rows": display.rows(await queries.views(session, shown), by_id),
            "page": page,
            "has_next": len(cases) > PER_PAGE,
        },
    )


async def case_page(
    request: Request,
    session: AsyncSession,
    user: User,
    case_id: str,
    *,
    error: AppError | None = None,
    typed: Mapping[str, str] | None = None,
) -> Response:
    case = await queries.get_for_buyer_or_404(session, user, case_id)
    shop = await shops.get(session, case.shop_id)
    view = await display.one_view(session, case)
    context = await display.case_context(session, view, shop, Actor.buyer)
    return render(
        request,
        "aftersales/store_case.html",
        context
        | {
            "order_url": f"/me/orders/{view.order_number}",
            # Declining an offer sends the case back to the shop.
            "can_answer": display.may(case, Actor.buyer, Status.requested),
            "can_ship": display.may(case, Actor.buyer, Status.returning),
            "can_escalate": display.may(case, Actor.buyer, Status.escalated),
            "can_withdraw": display.may(case, Actor.buyer, Status.closed),
            "typed": typed or {},
        },
        error=error,
    )


@router.get("/me/aftersales/{case_id}")
async def my_case(case_id: str, request: Request, session: Session, user: PageUser) -> Response:
    return await case_page(request, session, user, case_id)


# The last part of a step's address names it.
STEPS = {
    "accept": display.FormStep(service.accept),
    "decline": display.FormStep(service.decline),
    "ship": display.FormStep(service.send_back, display.shipment),
    "escalate": display.FormStep(service.escalate, lambda typed: {"note": typed.get("note", "")}),
    "withdraw": display.FormStep(service.withdraw),
}


@router.post("/me/aftersales/{case_id}/{action}")
async def act(
    case_id: str,
    action: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
) -> Response:
    return await display.take_step(
        request,
        session,
        STEPS.get(action),
        settings,
        user,
        case_id,
        again=lambda error, typed: case_page(
            request, session, user, case_id, error=error, typed=typed
        ),
        done=display.see_other(f"/me/aftersales/{case_id}"),
    )

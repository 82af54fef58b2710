"""The shop's after-sales in the console: its cases (open ones, those waiting for it, all),
and a case with the buyer's application, photos and timeline, and the answers open now:
agree, offer another amount, refuse, confirm that returned goods arrived.

A refused answer re-renders the case with what was typed and the message next to its field;
a savepoint drops whatever the service flushed before refusing.
"""

from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import PageUser
from pocketshop.aftersales import display, queries, service
from pocketshop.aftersales.states import OPEN, Actor, Kind, Status
from pocketshop.errors import AppError
from pocketshop.i18n import N_, _
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web.console import nav_context, redirect_done
from pocketshop.web.routing import AppSettings, Session, page_router
from pocketshop.web.templating import render

router = page_router(prefix="/console")

PER_PAGE = 20
PageNumber = Annotated[int, Query(ge=1, le=10_000)]
TabParam = Annotated[str, Query(alias="status", max_length=20)]

TABS: dict[str, tuple[str, Sequence[Status]]] = {
    "open": (N_("Open"), tuple(OPEN)),
    "waiting": (N_("Waiting for you"), display.SHOP_TURN),
    "all": (N_("All"), ()),
}
NOTICES = {
    "agree": N_("Agreed. The buyer has been told."),
    "propose": N_("Your offer has been sent to the buyer."),
    "refuse": N_("Refused. The buyer may ask the platform to decide."),
    "receive": N_("Arrival confirmed."),
}


@router.get("/aftersales")
async def cases_list(
    request: Request,
    session: Session,
    shop: ConsoleShop,
    tab: TabParam = "open",
    page: PageNumber = 1,
) -> Response:
    tab = tab if tab in TABS else "open"
    cases = await queries.list_cases(
        session,
        shop=shop,
        statuses=TABS[tab][1],
        limit=PER_PAGE + 1,
        offset=(page - 1) * PER_PAGE,
    )
    shown = cases[:PER_PAGE]
    return render(
        request,
        "aftersales/console_cases.html",
        {
            **await nav_context(session, shop, "aftersales"),
            "tabs": [(key, _(label)) for key, (label, _statuses) in TABS.items()],
            "tab": tab,
            "rows": display.rows(await queries.views(session, shown), {shop.id: shop}),
            "page": page,
            "has_next": len(cases) > PER_PAGE,
        },
    )


async def case_page(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    case_id: str,
    *,
    error: AppError | None = None,
    typed: Mapping[str, str] | None = None,
) -> Response:
    case = await queries.get_for_shop_or_404(session, shop, case_id)
    view = await display.one_view(session, case)
    done = request.query_params.get("done", "")
    return render(
        request,
        "aftersales/console_case.html",
        {
            **await nav_context(session, shop, "aftersales"),
            **await display.case_context(session, view, shop, Actor.merchant),
            "order_url": f"/console/orders/{view.order_number}",
            # Agreeing moves a request on (to a refund for a refund only); arrival moves a
            # return on (to an exchange for one): one target names each answer.
            "can_agree": display.may(case, Actor.merchant, Status.awaiting_return),
            "can_propose": display.may(case, Actor.merchant, Status.proposed)
            and case.kind != Kind.exchange,
            "can_refuse": display.may(case, Actor.merchant, Status.refused),
            "can_receive": display.may(case, Actor.merchant, Status.exchanged),
            "typed": typed or {},
            "notice": _(NOTICES[done]) if done in NOTICES and error is None else None,
        },
        error=error,
    )


@router.get("/aftersales/{case_id}")
async def case_detail(
    case_id: str, request: Request, session: Session, shop: ConsoleShop
) -> Response:
    return await case_page(request, session, shop, case_id)


# The last part of an answer's address names it.
STEPS = {
    "agree": display.FormStep(
        service.agree, lambda typed: {"return_address": typed.get("return_address", "")}
    ),
    "propose": display.FormStep(
        service.propose,
        lambda typed: {
            "amount": display.yuan(typed.get("amount", "")),
            "note": typed.get("note", ""),
            "return_address": typed.get("return_address", ""),
        },
    ),
    "refuse": display.FormStep(service.refuse, lambda typed: {"reason": typed.get("reason", "")}),
    "receive": display.FormStep(service.receive, display.shipment),
}


@router.post("/aftersales/{case_id}/{action}")
async def answer(
    case_id: str,
    action: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    shop: ConsoleShop,
) -> Response:
    return await display.take_step(
        request,
        session,
        STEPS.get(action),
        settings,
        shop,
        case_id,
        user_id=user.id,
        again=lambda error, typed: case_page(
            request, session, shop, case_id, error=error, typed=typed
        ),
        done=redirect_done(f"/console/aftersales/{case_id}", action),
    )

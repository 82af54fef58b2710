"""The platform's operators decide disputes: escalated cases (oldest first, as a work queue)
and those decided lately; a case with both sides' story, the photos and the timeline, and the
decision form (refund the buyer, or reject, with grounds both sides read)."""

from collections.abc import Mapping
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import OperatorUser
from pocketshop.aftersales import display, queries, service
from pocketshop.aftersales.states import Actor, Status
from pocketshop.db import attempt
from pocketshop.errors import AppError, InvalidInput
from pocketshop.i18n import N_, _
from pocketshop.shops import service as shops
from pocketshop.web.routing import AppSettings, Session, page_router
from pocketshop.web.templating import render

router = page_router(prefix="/admin")

QUEUE_MAX = 100
DECIDED_SHOWN = 20
DECISIONS = {"refund": N_("Refund the buyer"), "reject": N_("Reject the application")}


@router.get("/disputes")
async def disputes(request: Request, session: Session, user: OperatorUser) -> Response:
    waiting = await queries.list_cases(session, statuses=(Status.escalated,), limit=QUEUE_MAX)
    waiting.reverse()  # the longest waiting first
    decided = await queries.decided(session, limit=DECIDED_SHOWN)
    views = await queries.views(session, waiting + decided)
    by_id = await shops.by_ids(session, {view.case.shop_id for view in views})
    rows = display.rows(views, by_id)
    return render(
        request,
        "aftersales/admin_disputes.html",
        {"waiting": rows[: len(waiting)], "decided": rows[len(waiting) :]},
    )


async def dispute_page(
    request: Request,
    session: AsyncSession,
    case_id: str,
    *,
    error: AppError | None = None,
    typed: Mapping[str, str] | None = None,
) -> Response:
    case = await queries.get_or_404(session, case_id)
    shop = await shops.get(session, case.shop_id)
    view = await display.one_view(session, case)
    return render(
        request,
        "aftersales/admin_dispute.html",
        {
            **await display.case_context(session, view, shop, Actor.operator),
            "order_url": None,
            "can_decide": display.may(case, Actor.operator, Status.closed),
            "decisions": [(key, _(label)) for key, label in DECISIONS.items()],
            "typed": typed or {},
        },
        error=error,
    )


@router.get("/disputes/{case_id}")
async def dispute(case_id: str, request: Request, session: Session, user: OperatorUser) -> Response:
    return await dispute_page(request, session, case_id)


@router.post("/disputes/{case_id}")
async def decide(
    case_id: str,
    request: Request,
    session: Session,
    settings: AppSettings,
    user: OperatorUser,
    decision: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        async with attempt(session):
            if decision not in DECISIONS:
                raise InvalidInput(
                    _("Choose a decision."), code="invalid_decision", field="decision"
                )
            await service.decide(
                session, settings, user, case_id, refund=decision == "refund", note=note
            )
    except AppError as error:
        typed = {"decision": decision, "note": note}
        return await dispute_page(request, session, case_id, error=error, typed=typed)
    return display.see_other(f"/admin/disputes/{case_id}")

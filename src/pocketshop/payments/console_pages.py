"""The merchant's money in the console: balances by where the money is, withdrawals to the
bank card, the statement of every movement, and refunds from an order's page."""

from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import Response

from pocketshop.accounts.deps import PageUser
from pocketshop.db import attempt
from pocketshop.errors import AppError
from pocketshop.i18n import N_, _
from pocketshop.ledger import service as ledger
from pocketshop.ledger.service import AccountKind
from pocketshop.money import format_fen
from pocketshop.orders import service as orders
from pocketshop.payments import anomalies, withdrawals
from pocketshop.payments.states import withdrawal_status
from pocketshop.shops import service as shops
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web.console import nav_context, parse_amount, redirect_done
from pocketshop.web.routing import AppSettings, Session, page_router
from pocketshop.web.templating import render

router = page_router(prefix="/console")

PageNumber = Annotated[int, Query(ge=1, le=10_000)]

BALANCES = (
    (
        AccountKind.order_escrow,
        N_("In escrow"),
        N_("Paid by buyers; yours when they confirm receipt."),
    ),
    (
        AccountKind.merchant_pending,
        N_("Pending settlement"),
        N_("Released to you; available the next day."),
    ),
    (
        AccountKind.merchant_available,
        N_("Available"),
        N_("You can withdraw it to your bank card."),
    ),
    (AccountKind.merchant_withdrawing, N_("Withdrawing"), N_("On its way to your bank card.")),
    (AccountKind.merchant_paid_out, N_("Paid out"), N_("Reached your bank card, in all.")),
    (AccountKind.order_refunding, N_("Refunds in progress"), N_("On their way back to buyers.")),
)
MOVEMENTS = {
    "capture": N_("Buyer paid"),
    "release": N_("Receipt confirmed"),
    "settle": N_("Settled"),
    "refund": N_("Refund"),
    "refund_sent": N_("Refund sent"),
    "refund_failed": N_("Refund failed, money back"),
    "withdraw": N_("Withdrawal"),
    "payout": N_("Paid to bank card"),
    "payout_failed": N_("Withdrawal failed, money back"),
}
ATTENTION_OTHERWISE = N_("A payment needs the platform's attention.")
ATTENTION = {
    "refund_failed": N_("A refund was refused by the payment provider; its money came back."),
    "refund_stuck": N_("A refund waits at the payment provider (the buyer's account refused it)."),
    "refund_overdue": N_("A refund has not been confirmed by the payment provider for hours."),
    "payout_overdue": N_("A withdrawal has not been confirmed by the bank for hours."),
    "late_payment": N_("A buyer paid an order after it closed; the money is going back to them."),
    "paid_twice": N_("A buyer paid an order twice; the second payment is going back to them."),
}
ACCOUNTS = {kind: label for kind, label, _hint in BALANCES} | {
    AccountKind.merchant_debt: N_("Owed")
}
NOTICES = {"withdrawn": N_("Withdrawal requested. It usually arrives within a day.")}


async def finance_page(
    request: Request,
    session: Session,
    shop: Shop,
    *,
    page: int = 1,
    error: AppError | None = None,
    typed: str = "",
) -> Response:
    held = await ledger.shop_balances(session, shop.id)
    lines, has_next = await ledger.shop_statement(session, shop.id, page=page)
    attention = [
        (found, _(ATTENTION.get(found.kind, ATTENTION_OTHERWISE)))
        for found in await anomalies.of_shop(session, shop.id)
    ]
    numbers = await orders.numbers(session, {line.order_id for line in lines if line.order_id})
    card = await shops.payout_card(session, shop)
    done = NOTICES.get(request.query_params.get("done", ""))
    return render(
        request,
        "payments/console_finance.html",
        {
            **await nav_context(session, shop, "finance"),
            "balances": [(_(label), _(hint), held[kind]) for kind, label, hint in BALANCES],
            "available": held[AccountKind.merchant_available],
            "owed": -held[AccountKind.merchant_debt],
            "attention": attention,
            "lines": [
                {
                    "line": line,
                    "what": _(MOVEMENTS.get(line.kind, line.kind)),
                    "account": _(ACCOUNTS[line.account]) if line.account in ACCOUNTS else "",
                    "order": numbers.get(line.order_id) if line.order_id else None,
                }
                for line in lines
            ],
            "page": page,
            "has_next": has_next,
            "withdrawals": await withdrawals.of_shop(session, shop, limit=10),
            "withdrawal_status": withdrawal_status,
            "card": card,
            "bank_name": shops.bank_name,
            "min_withdrawal": format_fen(request.app.state.settings.withdrawal_min_fen),
            "typed": typed,
            "money": format_fen,
            "notice": _(done) if done and error is None else None,
        },
        error=error,
    )


@router.get("/finance")
async def finance(
    request: Request, session: Session, shop: ConsoleShop, page: PageNumber = 1
) -> Response:
    return await finance_page(request, session, shop, page=page)


@router.post("/finance/withdraw")
async def withdraw(
    request: Request,
    session: Session,
    settings: AppSettings,
    user: PageUser,
    shop: ConsoleShop,
    amount: Annotated[str, Form(max_length=20)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        async with attempt(session):
            await withdrawals.request(
                session, settings, shop, user, parse_amount(amount), idempotency_key=key or None
            )
    except AppError as error:
        return await finance_page(request, session, shop, error=error, typed=amount)
    return redirect_done("/console/finance", "withdrawn")

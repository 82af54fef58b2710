"""The merchant's money in the console: balances by where the money is, withdrawals to the
bank card, the statement of every movement, and refunds from an order's page."""

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import Response

from pocketshop.accounts.deps import PageUser
from pocketshop.db import attempt
from pocketshop.errors import AppError
from pocketshop.i18n import N_, _
from pocketshop.ledger import service as ledger
from pocketshop.ledger import statement
from pocketshop.ledger.service import AccountKind
from pocketshop.ledger.statement import Entry
from pocketshop.money import format_fen
from pocketshop.orders import service as orders
from pocketshop.payments import anomalies, withdrawals
from pocketshop.payments.states import withdrawal_status
from pocketshop.shops import service as shops
from pocketshop.shops.deps import ConsoleShop
from pocketshop.shops.models import Shop
from pocketshop.web import flash
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
# What each business event is called, and a word on where its money went.
ENTRIES = {
    "capture": (N_("Sale"), N_("In escrow until the buyer confirms receipt.")),
    "release": (N_("Order completed"), N_("Released to you, due for settlement.")),
    "settle": (N_("Settled"), N_("Now available to withdraw.")),
    "refund": (N_("Refund to the buyer"), None),
    "refund_sent": (N_("Refund reached the buyer"), None),
    "refund_failed": (N_("Refund failed, money back"), None),
    "withdraw": (N_("Withdrawal to your bank card"), None),
    "payout": (N_("Withdrawal arrived"), N_("Reached your bank card.")),
    "payout_failed": (N_("Withdrawal failed, money back"), None),
}
FEE_CHARGED = N_("Platform service fee")
FEE_RETURNED = N_("Platform service fee returned")
ATTENTION_OTHERWISE = N_("A payment needs the platform's attention.")
ATTENTION = {
    "refund_failed": N_("A refund was refused by the payment provider; its money came back."),
    "refund_stuck": N_("A refund waits at the payment provider (the buyer's account refused it)."),
    "refund_overdue": N_("A refund has not been confirmed by the payment provider for hours."),
    "payout_overdue": N_("A withdrawal has not been confirmed by the bank for hours."),
    "late_payment": N_("A buyer paid an order after it closed; the money is going back to them."),
    "paid_twice": N_("A buyer paid an order twice; the second payment is going back to them."),
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
    entries, has_next = await statement.shop_entries(session, shop.id, page=page)
    attention = [
        (found, _(ATTENTION.get(found.kind, ATTENTION_OTHERWISE)))
        for found in await anomalies.of_shop(session, shop.id)
    ]
    numbers = await orders.numbers(session, {entry.order_id for entry in entries if entry.order_id})
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
                {**line, "order": numbers.get(entry.order_id) if entry.order_id else None}
                for entry in entries
                for line in statement_lines(entry)
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


def statement_lines(entry: Entry) -> list[dict[str, Any]]:
    """An entry as the statement shows it, newest first: the event, and the platform's fee as
    a line of its own. A line that leaves the shop's own money as it was shows what moved."""
    lines = []
    if entry.fee.amount:
        fee_label = FEE_CHARGED if entry.fee.amount > 0 else FEE_RETURNED
        lines.append(
            {"what": _(fee_label), "hint": None, "at": entry.at, "change": -entry.fee}
            | {"moved": None, "balance": entry.balance_after}
        )
    label, hint = ENTRIES.get(entry.kind, (entry.kind, None))
    change = entry.change + entry.fee
    lines.append(
        {"what": _(label), "hint": _(hint) if hint else None, "at": entry.at}
        | {"change": change if change.amount else None, "moved": entry.moved}
        | {"balance": entry.balance_after + entry.fee}
    )
    return lines


@router.get("/finance")
async def finance(
    request: Request, session: Session, shop: ConsoleShop, page: PageNumber = 1
) -> Response:
    error, typed = flash.take(request)
    response = await finance_page(
        request, session, shop, page=page, error=error, typed=typed.get("amount", "")
    )
    return flash.clear(request, response)


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
        return flash.redirect_refused(
            request, "/console/finance#withdraw", error, {"amount": amount}
        )
    return redirect_done("/console/finance", "withdrawn")

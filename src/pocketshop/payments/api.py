"""Payments JSON API: buyers pay and read receipts; merchants see their money, refund, and
withdraw; providers notify us."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop.accounts.deps import ApiUser, api_user_in, bearer_scheme
from pocketshop.db import Database
from pocketshop.guessing.deps import LimitMisses
from pocketshop.ledger import service as ledger
from pocketshop.ledger import statement
from pocketshop.ledger.service import AccountKind
from pocketshop.orders import service as orders
from pocketshop.orders.models import Order
from pocketshop.payments import (
    calls,
    escrow,
    notices,
    refunds,
    requests,
    service,
    withdrawals,
)
from pocketshop.payments.models import Payment, PaymentRequest, Refund, Withdrawal
from pocketshop.payments.providers import Channel, NoticeRejected, provider_of
from pocketshop.payments.schemas import (
    BalancesOut,
    NextStep,
    PayIn,
    PaymentOut,
    PaymentRequestIn,
    PaymentRequestOut,
    PostingListOut,
    PostingOut,
    ReceiptOut,
    RefundIn,
    RefundOut,
    RequestLineOut,
    StartedOut,
    StatementEntryOut,
    StatementOut,
    TakenOut,
    TakeRequestIn,
    WithdrawalIn,
    WithdrawalOut,
)
from pocketshop.payments.setup import Payments
from pocketshop.shops import service as shops
from pocketshop.shops.deps import MerchantShop
from pocketshop.shops.models import Shop
from pocketshop.web import contract
from pocketshop.web.routing import (
    AppSettings,
    IdempotencyKey,
    Session,
    api_router,
    client_address,
    get_settings,
    outside_router,
    public_base_url,
    read_body,
    run_after,
    unit,
)

log = logging.getLogger(__name__)

router = api_router(prefix="/api/v1", tags=["payments"])
# Routes that call a provider: their transactions are their own (see OutsideRoute).
outside = outside_router(prefix="/api/v1", tags=["payments"])
# Provider callbacks: two transactions of their own (store the notice, then act on it), so
# not the one-transaction route.
callbacks = APIRouter(prefix="/api/v1", tags=["payments"])

Page = Annotated[int, Query(ge=1, le=10_000)]


def deployment_rules(payments: Payments) -> contract.SchemaRule:
    """What a payment and a withdrawal may be here: one body per provider offered, naming
    its channels (JSAPI with the buyer's openid), and the smallest withdrawal."""

    def body(provider: str, channels: list[str], openid: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": ["provider", "channel", *(["openid"] if openid.get("minLength") else [])],
            "properties": {
                "provider": {"type": "string", "const": provider},
                "channel": {"type": "string", "enum": channels},
                "openid": {"type": "string", "maxLength": 128, **openid},
            },
        }

    def state(schema: dict[str, Any]) -> None:
        models = schema["components"]["schemas"]
        bodies = []
        for name, provider in payments.providers.items():
            plain = [channel.value for channel in provider.channels if channel is not Channel.jsapi]
            if plain:
                bodies.append(body(name, plain, {"default": ""}))
            if Channel.jsapi in provider.channels:
                bodies.append(body(name, [Channel.jsapi.value], {"minLength": 1}))
        if bodies:  # none with no provider configured: the model's own schema stays
            models["PayIn"] = {"title": "PayIn", "oneOf": bodies}
        amount = models["WithdrawalIn"]["properties"]["amount"]
        amount.pop("exclusiveMinimum", None)
        amount["minimum"] = payments.settings.withdrawal_min_fen

    return state


def payments_of(request: Request) -> Payments:
    found: Payments = request.app.state.payments
    return found


def payment_out(payment: Payment, number: str) -> PaymentOut:
    return PaymentOut(
        id=payment.public_id,
        order=number,
        provider=payment.provider,
        channel=payment.channel,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
        paid_at=payment.paid_at,
        transaction_id=payment.provider_txn_id,
    )


def refund_out(refund: Refund, number: str) -> RefundOut:
    return RefundOut(
        id=refund.public_id,
        order=number,
        amount=refund.amount,
        currency=refund.currency,
        status=refund.status,
        reason=refund.reason,
        requested_by=refund.requested_by,
        created_at=refund.created_at,
        finished_at=refund.finished_at,
    )


def withdrawal_out(withdrawal: Withdrawal) -> WithdrawalOut:
    return WithdrawalOut(
        id=withdrawal.public_id,
        amount=withdrawal.amount,
        currency=withdrawal.currency,
        status=withdrawal.status,
        bank=shops.bank_name(withdrawal.bank_code),
        card_last4=withdrawal.card_last4,
        created_at=withdrawal.created_at,
        finished_at=withdrawal.finished_at,
        failure=withdrawal.failure,
    )


# --- buyers ---------------------------------------------------------------------------------


@outside.post(
    "/orders/{number}/payments",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(bearer_scheme), LimitMisses],
    openapi_extra=contract.links(
        201,
        RefundOrder=(
            "refund_order_api_v1_me_shop_orders__number__refunds_post",
            {"number": "$response.body#/payment/order"},
        ),
        RefreshPayment=(
            "refresh_payment_api_v1_payments__payment_id__refresh_post",
            {"payment_id": "$response.body#/payment/id"},
        ),
        Receipt=(
            "receipt_api_v1_orders__number__receipt_get",
            {"number": "$response.body#/payment/order"},
        ),
    ),
)
async def pay_order(number: str, body: PayIn, request: Request) -> StartedOut:
    """Pay an unpaid order: the amount is the order's total. Follow `next`."""
    settings = get_settings(request)
    providers = payments_of(request).providers
    async with unit(request) as session:
        user = await api_user_in(session, request)
        opened = await service.open_payment(
            session,
            settings,
            providers,
            user,
            number,
            provider_name=body.provider,
            channel=body.channel,
            client_ip=client_address(request),
            openid=body.openid,
        )
    prepay = await calls.prepay(providers, opened)
    return StartedOut(
        payment=payment_out(opened.payment, number),
        next=NextStep(redirect_url=prepay.redirect_url, qr_url=prepay.qr_url, jsapi=prepay.jsapi),
    )


@outside.post("/payments/{payment_id}/refresh", dependencies=[Depends(bearer_scheme), LimitMisses])
async def refresh_payment(payment_id: str, request: Request) -> PaymentOut:
    """Ask the provider how the payment stands now (after the buyer comes back)."""
    settings = get_settings(request)
    async with unit(request, write=False) as session:
        user = await api_user_in(session, request)
        payment = await service.get_for_buyer_or_404(session, user, payment_id)
    await calls.advance_payment(
        request.app.state.db, settings, payments_of(request).providers, payment.id
    )
    async with unit(request, write=False) as session:
        payment = await session.get_one(Payment, payment.id)
        number = (await orders.numbers(session, {payment.order_id or 0})).get(
            payment.order_id or 0, ""
        )
    return payment_out(payment, number)


@router.get("/orders/{number}/receipt", dependencies=[LimitMisses])
async def receipt(number: str, session: Session, user: ApiUser) -> ReceiptOut:
    order = await orders.get_for_buyer_or_404(session, user, number)
    return await receipt_out(session, order)


async def receipt_out(session: AsyncSession, order: Order) -> ReceiptOut:
    payment = await service.paid_payment(session, order)
    if payment is None:
        raise escrow.not_paid()
    made = await refunds.of_order(session, order.id)
    shop = await shops.get(session, order.shop_id)
    return ReceiptOut(
        order=order.number,
        shop=shop.slug,
        payment=payment_out(payment, order.number),
        refunds=[refund_out(refund, order.number) for refund in made],
        refunded=sum(refund.amount for refund in made if refund.status == "succeeded"),
    )


# --- merchants ------------------------------------------------------------------------------


@router.get("/me/shop/finance")
async def balances(session: Session, shop: MerchantShop) -> BalancesOut:
    held = await ledger.shop_balances(session, shop.id)
    return BalancesOut(
        currency="CNY",
        escrow=held[AccountKind.order_escrow].amount,
        pending=held[AccountKind.merchant_pending].amount,
        available=held[AccountKind.merchant_available].amount,
        withdrawing=held[AccountKind.merchant_withdrawing].amount,
        paid_out=held[AccountKind.merchant_paid_out].amount,
        refunding=held[AccountKind.order_refunding].amount,
        owed=-held[AccountKind.merchant_debt].amount,
    )


@router.get("/me/shop/finance/transactions")
async def postings(session: Session, shop: MerchantShop, page: Page = 1) -> PostingListOut:
    lines, has_next = await ledger.shop_statement(session, shop.id, page=page)
    numbers = await orders.numbers(session, {line.order_id for line in lines if line.order_id})
    return PostingListOut(
        items=[
            PostingOut(
                at=line.at,
                kind=line.kind,
                account=line.account.value,
                amount=line.amount.amount,
                order=numbers.get(line.order_id) if line.order_id else None,
            )
            for line in lines
        ],
        page=page,
        has_next=has_next,
    )


@router.get("/me/shop/finance/statement")
async def business_statement(session: Session, shop: MerchantShop, page: Page = 1) -> StatementOut:
    """The shop's money as business events, newest first: what each did to the shop's own
    money and the balance after it (the postings themselves: /finance/transactions)."""
    entries, has_next = await statement.shop_entries(session, shop.id, page=page)
    numbers = await orders.numbers(session, {entry.order_id for entry in entries if entry.order_id})
    return StatementOut(
        items=[
            StatementEntryOut(
                at=entry.at,
                kind=entry.kind,
                order=numbers.get(entry.order_id) if entry.order_id else None,
                change=entry.change.amount,
                fee=entry.fee.amount,
                moved=entry.moved.amount,
                balance_after=entry.balance_after.amount,
            )
            for entry in entries
        ],
        currency="CNY",
        page=page,
        has_next=has_next,
    )


@router.get("/me/shop/orders/{number}/payments", dependencies=[LimitMisses])
async def order_payments(number: str, session: Session, shop: MerchantShop) -> list[PaymentOut]:
    order = await orders.get_for_shop_or_404(session, shop, number)
    return [payment_out(payment, number) for payment in await service.of_order(session, order)]


@router.post(
    "/me/shop/orders/{number}/refunds",
    dependencies=[LimitMisses],
    status_code=status.HTTP_201_CREATED,
)
async def refund_order(
    number: str,
    body: RefundIn,
    session: Session,
    settings: AppSettings,
    shop: MerchantShop,
    idempotency_key: IdempotencyKey = None,
) -> RefundOut:
    """Refund a buyer in full or in part, until the after-sales window closes (7 days after
    receipt by default): from the order's escrow, or after receipt from the shop's money
    (what its available money lacks becomes its debt). A refund of everything closes an
    order not yet received."""
    order = await orders.get_for_shop_or_404(session, shop, number)
    refund = await service.refund_by_merchant(
        session,
        settings,
        order,
        amount=body.amount,
        reason=body.reason,
        idempotency_key=idempotency_key,
    )
    return refund_out(refund, number)


@router.get("/me/shop/orders/{number}/refunds", dependencies=[LimitMisses])
async def order_refunds(number: str, session: Session, shop: MerchantShop) -> list[RefundOut]:
    order = await orders.get_for_shop_or_404(session, shop, number)
    return [refund_out(refund, number) for refund in await refunds.of_order(session, order.id)]


@router.post("/me/shop/withdrawals", status_code=status.HTTP_201_CREATED)
async def withdraw(
    body: WithdrawalIn,
    session: Session,
    settings: AppSettings,
    user: ApiUser,
    shop: MerchantShop,
    idempotency_key: IdempotencyKey = None,
) -> WithdrawalOut:
    """Withdraw available money to the shop's bank card (one at a time)."""
    withdrawal = await withdrawals.request(
        session,
        settings,
        shop,
        user,
        body.amount,
        idempotency_key=idempotency_key,
    )
    return withdrawal_out(withdrawal)


@router.get("/me/shop/withdrawals")
async def list_withdrawals(session: Session, shop: MerchantShop) -> list[WithdrawalOut]:
    return [withdrawal_out(one) for one in await withdrawals.of_shop(session, shop)]


@router.get("/me/shop/withdrawals/{withdrawal_id}")
async def get_withdrawal(withdrawal_id: str, session: Session, shop: MerchantShop) -> WithdrawalOut:
    return withdrawal_out(await withdrawals.get_for_shop_or_404(session, shop, withdrawal_id))


# --- providers ------------------------------------------------------------------------------


@callbacks.post("/payments/{provider_name}/notify", include_in_schema=False)
async def notify(provider_name: str, request: Request) -> Response:
    """A provider's notification. Verified, kept (committed), answered; acted on after the
    answer has gone (payments.notices). Answered 5xx only when it could not be kept, so the
    provider sends it again."""
    payments = payments_of(request)
    provider = provider_of(payments.providers, provider_name)
    await read_body(request, request.app.state.settings.max_request_bytes)
    body = await request.body()
    try:
        notice = await provider.parse_notice(request.headers, body)
    except NoticeRejected as rejected:
        log.warning("payments: %s notice refused: %s", provider_name, rejected.reason)
        return provider.refuse(rejected.reason, rejected.status_code)
    db: Database = request.app.state.db
    try:
        notice_id = await notices.keep(db, provider.name, notice, body)
    except Exception:
        log.exception("payments: could not keep a %s notice", provider_name)
        return provider.refuse("not stored", status.HTTP_503_SERVICE_UNAVAILABLE)

    async def act() -> None:
        acted = await notices.act_on(db, payments.settings, payments.providers, notice_id)
        if acted.outbox_queued:
            await request.app.state.dispatch_outbox()

    answer = provider.acknowledge()
    run_after(answer, act)
    return answer


# --- payment requests -------------------------------------------------------------------


async def requests_out(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    made: list[PaymentRequest],
    *,
    for_shop: bool = True,
) -> list[PaymentRequestOut]:
    """As the shop sees them; anyone else (`for_shop` False) is not told who took one."""
    numbers = await orders.numbers(session, {one.order_id for one in made if one.order_id})
    found = []
    for summary in await requests.summaries(session, shop, made):
        one = summary.request
        link = requests.link(public_base_url(request), shop, one)
        found.append(
            PaymentRequestOut(
                id=one.public_id,
                status=one.status,
                status_label=requests.status_label(summary),
                note=one.note,
                amount=one.amount,
                lines=[
                    RequestLineOut(title=title, spec=spec, unit_price=price, quantity=quantity)
                    for title, spec, price, quantity in summary.lines
                ],
                shipping=summary.shipping,
                no_delivery=one.no_delivery,
                total=summary.total,
                link=link,
                qr_svg=f"{link}/qr.svg",
                expires_at=one.expires_at,
                order=numbers.get(one.order_id) if one.order_id and for_shop else None,
                created_at=one.created_at,
            )
        )
    return found


async def request_out(
    request: Request,
    session: AsyncSession,
    shop: Shop,
    made: PaymentRequest,
    *,
    for_shop: bool = True,
) -> PaymentRequestOut:
    return (await requests_out(request, session, shop, [made], for_shop=for_shop))[0]


@router.post("/me/shop/payment-requests", status_code=status.HTTP_201_CREATED)
async def create_payment_request(
    body: PaymentRequestIn, request: Request, session: Session, user: ApiUser, shop: MerchantShop
) -> PaymentRequestOut:
    """Ask a buyer to pay: chosen products, or a typed amount with a note. Share `link`."""
    made = await requests.create(
        session,
        shop,
        user,
        items=[requests.Item(item.sku_id, item.quantity) for item in body.items],
        amount=body.amount,
        note=body.note,
        expires_in_hours=body.expires_in_hours,
        no_delivery=body.no_delivery,
    )
    return await request_out(request, session, shop, made)


@router.get("/me/shop/payment-requests")
async def list_payment_requests(
    request: Request, session: Session, shop: MerchantShop
) -> list[PaymentRequestOut]:
    return await requests_out(request, session, shop, await requests.of_shop(session, shop))


@router.get("/me/shop/payment-requests/{request_id}", dependencies=[LimitMisses])
async def get_payment_request(
    request_id: str, request: Request, session: Session, shop: MerchantShop
) -> PaymentRequestOut:
    found = await requests.get_for_shop_or_404(session, shop, request_id)
    return await request_out(request, session, shop, found)


@router.post("/me/shop/payment-requests/{request_id}/cancel", dependencies=[LimitMisses])
async def cancel_payment_request(
    request_id: str, request: Request, session: Session, user: ApiUser, shop: MerchantShop
) -> PaymentRequestOut:
    """No more paying it; an order a buyer opened from it and has not paid closes too."""
    cancelled = await requests.cancel(session, shop, user, request_id)
    return await request_out(request, session, shop, cancelled)


@router.get("/shops/{slug}/payment-requests/{request_id}", dependencies=[LimitMisses])
async def read_payment_request(
    slug: str, request_id: str, request: Request, session: Session
) -> PaymentRequestOut:
    """What a shared payment request asks for (anyone with its link)."""
    shop = await shops.get_by_slug_or_404(session, slug)
    found = await requests.get_for_shop_or_404(session, shop, request_id)
    return await request_out(request, session, shop, found, for_shop=False)


@router.post(
    "/shops/{slug}/payment-requests/{request_id}/orders",
    dependencies=[LimitMisses],
    status_code=201,
)
async def take_payment_request(
    slug: str,
    request_id: str,
    body: TakeRequestIn,
    session: Session,
    settings: AppSettings,
    user: ApiUser,
) -> TakenOut:
    """The buyer's order from a request, to the address given; then pay it
    (`POST /orders/{number}/payments`)."""
    shop = await shops.get_by_slug_or_404(session, slug)
    order = await requests.take(
        session,
        settings,
        user,
        shop,
        request_id,
        address=body.address.as_input() if body.address else None,
        address_id=body.address_id,
    )
    return TakenOut(order=order.number, total=order.total, status=order.status)

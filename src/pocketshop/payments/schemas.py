"""JSON shapes of the payments API. Amounts are integers in fen."""

from datetime import datetime

from pydantic import BaseModel, Field, StrictBool

from pocketshop.accounts.schemas import StrictModel, WholeNumber
from pocketshop.orders.schemas import AddressIn
from pocketshop.payments.providers import Channel
from pocketshop.payments.requests import NOTE_MAX
from pocketshop.payments.states import PaymentStatus, RefundStatus, WithdrawalStatus
from pocketshop.web import contract


class PayIn(StrictModel):
    provider: str = Field(max_length=16, examples=["sandbox"])
    channel: Channel = Field(examples=["page"])
    # WeChat Pay inside WeChat (JSAPI): the buyer's openid for our app id.
    openid: str = Field(default="", max_length=128)


class PaymentOut(BaseModel):
    id: str
    order: str
    provider: str
    channel: str
    amount: int
    currency: str
    status: PaymentStatus
    paid_at: datetime | None
    transaction_id: str | None


class NextStep(BaseModel):
    """What the buyer's browser does: open a URL, show one as a QR code, or call WeChat's
    JSAPI with these parameters."""

    redirect_url: str | None = None
    qr_url: str | None = None
    jsapi: dict[str, str] = {}


class StartedOut(BaseModel):
    payment: PaymentOut
    next: NextStep


class RefundIn(StrictModel):
    amount: WholeNumber = Field(gt=0, le=10**9, description="fen", examples=[1990])
    reason: str = Field(default="", max_length=200)


class RefundOut(BaseModel):
    id: str
    order: str
    amount: int
    currency: str
    status: RefundStatus
    reason: str
    requested_by: str
    created_at: datetime
    finished_at: datetime | None


class ReceiptOut(BaseModel):
    order: str
    shop: str
    payment: PaymentOut
    refunds: list[RefundOut]
    refunded: int


class BalancesOut(BaseModel):
    """The shop's money, in fen, by where it is."""

    currency: str
    escrow: int = Field(description="paid by buyers, waiting for them to confirm receipt")
    pending: int = Field(description="released to the shop, settled the next day")
    available: int = Field(description="may be withdrawn")
    withdrawing: int = Field(description="on its way to the bank card")
    paid_out: int = Field(description="reached the bank card, in all")
    refunding: int = Field(description="refunds on their way back to buyers")
    owed: int = Field(
        description="what the shop owes for refunds after settlement that its available money "
        "could not cover; later settlements pay it first, and no withdrawal is made meanwhile"
    )


class PostingOut(BaseModel):
    at: datetime
    kind: str
    account: str
    amount: int
    order: str | None


class PostingListOut(BaseModel):
    items: list[PostingOut]
    page: int
    has_next: bool


class StatementEntryOut(BaseModel):
    """One business event on the shop's money (one ledger transaction), as the console's
    money page lists it."""

    at: datetime
    kind: str = Field(
        description="capture (a sale), release (receipt confirmed), settle, refund, "
        "refund_sent, refund_failed, withdraw, payout, payout_failed",
        examples=["release"],
    )
    order: str | None
    change: int = Field(
        description="fen gained (+) or given (-) by the shop's own money: escrow, pending and "
        "available, less what it owes"
    )
    fee: int = Field(description="fen of the platform's service fee charged (-: handed back)")
    moved: int = Field(description="fen that left the shop account it was in")
    balance_after: int = Field(description="the shop's own money after it, in fen")


class StatementOut(BaseModel):
    items: list[StatementEntryOut]
    currency: str
    page: int
    has_next: bool


class WithdrawalIn(StrictModel):
    amount: WholeNumber = Field(gt=0, le=10**10, description="fen", examples=[10000])


class WithdrawalOut(BaseModel):
    id: str
    amount: int
    currency: str
    status: WithdrawalStatus
    bank: str
    card_last4: str
    created_at: datetime
    finished_at: datetime | None
    failure: str


class RequestItemIn(StrictModel):
    sku_id: str = Field(max_length=32)
    quantity: WholeNumber = Field(ge=1, le=999)


class PaymentRequestIn(StrictModel):
    """Products, or an amount with a note saying what it is for (not both)."""

    items: list[RequestItemIn] = Field(default=[], max_length=50)
    amount: WholeNumber | None = Field(default=None, gt=0, le=10**9, description="fen")
    note: str = contract.text(NOTE_MAX, optional=True)
    expires_in_hours: WholeNumber = Field(default=72, ge=1, le=720)
    no_delivery: StrictBool = Field(
        default=False,
        description="a service or a fee (with an amount only): the buyer gives no address, "
        "pays no shipping, and the order waits for the buyer's confirmation instead of a "
        "shipment",
    )


class RequestLineOut(BaseModel):
    title: str
    spec: str
    unit_price: int
    quantity: int


class PaymentRequestOut(BaseModel):
    id: str
    status: str
    status_label: str
    note: str
    amount: int | None = Field(description="a typed amount; None when products were chosen")
    lines: list[RequestLineOut]
    shipping: int = Field(description="the shop's shipping fee, in the total")
    no_delivery: bool = Field(description="a service or a fee: no address, nothing shipped")
    total: int
    link: str = Field(description="what the buyer opens (share it, or its QR code)")
    qr_svg: str
    expires_at: datetime
    order: str | None = Field(
        description="the order made from it, once a buyer took it (shown to the shop only)"
    )
    created_at: datetime


class TakeRequestIn(StrictModel):
    """Where to deliver: an address, or one of the buyer's book (none for a request without
    delivery: any given is ignored)."""

    address: AddressIn | None = None
    address_id: str | None = Field(default=None, max_length=32)


class TakenOut(BaseModel):
    order: str
    total: int
    status: str

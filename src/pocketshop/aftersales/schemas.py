"""JSON shapes of the after-sales API. Amounts are integers in fen."""

from datetime import datetime

from pydantic import BaseModel, Field

from pocketshop.accounts.schemas import StrictModel, WholeNumber
from pocketshop.aftersales.service import ADDRESS_MAX, DESCRIPTION_MAX, NOTE_MAX
from pocketshop.aftersales.states import Actor, Kind, Reason, Status
from pocketshop.orders.service import MAX_QUANTITY
from pocketshop.web import contract


class CaseIn(StrictModel):
    line_id: str = Field(max_length=32, description="the order line's id")
    kind: Kind
    quantity: WholeNumber = Field(ge=1, le=MAX_QUANTITY)
    reason: Reason
    description: str = contract.text(DESCRIPTION_MAX, optional=True)
    amount: WholeNumber | None = Field(
        default=None,
        gt=0,
        le=10**9,
        description="fen; omit for what the quantity is worth (ignored for an exchange)",
    )


class ShipmentIn(StrictModel):
    carrier: str = Field(max_length=16, examples=["SF"])
    tracking_number: str = Field(max_length=60, examples=["SF1234567890123"])


class ReceiveIn(StrictModel):
    """For an exchange, the new item's shipment; nothing for a return."""

    carrier: str = Field(default="", max_length=16, examples=["SF"])
    tracking_number: str = Field(default="", max_length=60)


class AgreeIn(StrictModel):
    return_address: str = contract.text(
        ADDRESS_MAX,
        optional=True,
        description="where goods are sent back; required for a return or an exchange "
        "unless the shop gave one before",
    )


class ProposeIn(StrictModel):
    amount: WholeNumber = Field(gt=0, le=10**9, description="fen, less than asked")
    note: str = contract.text(NOTE_MAX, optional=True)
    return_address: str = contract.text(
        ADDRESS_MAX,
        optional=True,
        description="for a return: where goods are sent back, unless the shop gave one before",
    )


class RefuseIn(StrictModel):
    reason: str = contract.text(NOTE_MAX)


class EscalateIn(StrictModel):
    note: str = contract.text(NOTE_MAX, optional=True)


class CaseEventOut(BaseModel):
    from_status: Status | None
    to_status: Status
    status_label: str
    actor: Actor
    note: str
    at: datetime


class PhotoOut(BaseModel):
    url: str
    thumb_url: str


class CaseOut(BaseModel):
    id: str
    order_number: str
    line_id: str
    title: str
    kind: Kind
    kind_label: str
    status: Status
    status_label: str
    open: bool
    quantity: int
    amount: int = Field(description="fen: asked, or agreed on the shop's offer")
    proposed_amount: int | None = Field(description="fen: the shop's offer, waiting")
    currency: str
    reason: Reason
    reason_label: str
    description: str
    before_shipment: bool
    return_address: str
    return_carrier: str | None
    return_tracking: str | None
    exchange_carrier: str | None
    exchange_tracking: str | None
    refusal: str
    decision_note: str
    refund_id: str | None
    created_at: datetime
    due_at: datetime | None = Field(description="when its timer acts if nobody does")
    closed_at: datetime | None
    photos: list[PhotoOut] | None = None
    events: list[CaseEventOut] | None = None


class CaseListOut(BaseModel):
    items: list[CaseOut]
    page: int
    has_next: bool

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from pocketshop.accounts.schemas import StrictModel
from pocketshop.customers.models import PrivilegeKind
from pocketshop.customers.service import NOTE_MAX, TAG_MAX
from pocketshop.web import contract


class TagOut(BaseModel):
    id: str
    name: str


class TagCountOut(TagOut):
    customers: int


class CustomerOut(BaseModel):
    id: str
    name: str = Field(description="as their latest paid order was addressed")
    phone: str
    first_order_at: datetime
    last_order_at: datetime
    orders: int = Field(description="paid orders")
    spent: int = Field(description="paid, less refunded, in fen")
    source: str | None = Field(
        description="where their first paid order came from: store, staff, campaign or share; "
        "null: direct"
    )
    source_text: str | None = Field(description="the source in words (store, staff, campaign)")
    tags: list[TagOut]
    note: str


class CustomerOrderOut(BaseModel):
    number: str
    status: str
    total: int
    created_at: datetime


class CustomerDetailOut(CustomerOut):
    orders_list: list[CustomerOrderOut] = Field(description="their latest 50 orders, newest first")


class CustomerListOut(BaseModel):
    items: list[CustomerOut]
    page: int
    has_next: bool


class NoteIn(StrictModel):
    note: str = Field(max_length=NOTE_MAX * 4, description=f"at most {NOTE_MAX} characters")


class TagIn(StrictModel):
    name: str = contract.text(TAG_MAX, examples=["老客户"])


class PrivilegeIn(StrictModel):
    """For one customer (`customer_id`) or every customer with a tag (`tag_id`): one of them."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": [name], "properties": {name: {"minLength": 1}}}
                for name in ("customer_id", "tag_id")
            ]
        }
    )
    product_id: str = Field(max_length=32, description="a product of the shop: all its SKUs")
    kind: PrivilegeKind
    value: int = Field(
        ge=1,
        le=100_000_000,
        description="discount: basis points off (1500 = 15% off); fixed_price: the price in fen",
    )
    customer_id: str = Field(default="", max_length=32)
    tag_id: str = Field(default="", max_length=32, description="or a tag, not both")
    expires_at: datetime | None = Field(default=None, description="none: until removed")


class PrivilegeOut(BaseModel):
    id: str
    sku_id: str | None
    title: str
    spec: list[str]
    regular_price: int
    price: int = Field(description="what the privilege makes the SKU cost")
    kind: PrivilegeKind
    value: int
    customer_id: str | None
    tag_id: str | None
    expires_at: datetime | None
    live: bool

"""JSON shapes of the orders API. Amounts are integers in fen; a client never sends one."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from pocketshop.accounts.schemas import StrictModel, WholeNumber
from pocketshop.orders.addresses import FIELD_LIMITS, AddressInput
from pocketshop.orders.service import (
    MAX_LINES,
    MAX_QUANTITY,
    NOTE_MAX,
    OrderSource,
    OrderStatus,
)
from pocketshop.orders.shipping_fees import FEE_MAX, THRESHOLD_MAX, RuleKind
from pocketshop.web import contract

Quantity = Annotated[WholeNumber, Field(ge=1, le=MAX_QUANTITY)]


RegionCode = Annotated[
    str,
    Field(
        max_length=6,
        pattern=r"^([0-9]{6})?$",
        description="A 6-digit adcode from GET /api/v1/regions; the name is derived from it.",
    ),
]


class AddressIn(StrictModel):
    """Send the three adcodes (province_code, city_code, district_code); the names are then
    derived on the server. Names without codes are still accepted from older clients."""

    recipient: str = contract.text(FIELD_LIMITS["recipient"][0], examples=["李雷"])
    phone: str = contract.phone(examples=["13900139000"])
    province_code: RegionCode = ""
    city_code: RegionCode = ""
    district_code: RegionCode = ""
    province: str = contract.text(FIELD_LIMITS["province"][0], optional=True, examples=["浙江省"])
    city: str = contract.text(FIELD_LIMITS["city"][0], optional=True, examples=["杭州市"])
    district: str = contract.text(FIELD_LIMITS["district"][0], optional=True, examples=["西湖区"])
    detail: str = contract.text(FIELD_LIMITS["detail"][0], examples=["文三路 90 号 3 单元 201"])

    def as_input(self) -> AddressInput:
        return AddressInput(
            recipient=self.recipient,
            phone=self.phone,
            province=self.province,
            city=self.city,
            district=self.district,
            detail=self.detail,
            province_code=self.province_code,
            city_code=self.city_code,
            district_code=self.district_code,
        )


class AddressBookIn(AddressIn):
    is_default: StrictBool = False


class AddressOut(BaseModel):
    id: str
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    province_code: str | None = None
    city_code: str | None = None
    district_code: str | None = None
    detail: str
    is_default: bool


class LineIn(StrictModel):
    sku_id: str = Field(max_length=32)
    quantity: Quantity


class OrderIn(StrictModel):
    """Prices, fees and totals are computed by the server; sending any is an error."""

    shop: str = Field(max_length=48, description="shop slug")
    lines: list[LineIn] | None = Field(
        default=None,
        max_length=MAX_LINES,
        description=f"1 to {MAX_LINES} lines; omit to check out the cart of this shop",
    )
    address_id: str | None = Field(default=None, max_length=32)
    address: AddressIn | None = None
    note: str = contract.text(NOTE_MAX, optional=True)


class CartItemIn(StrictModel):
    quantity: Annotated[WholeNumber, Field(ge=0, le=MAX_QUANTITY)] = Field(
        description="0 removes the item"
    )


class CartLineOut(BaseModel):
    sku_id: str
    product_id: str
    title: str
    spec: str
    unit_price: int
    regular_price: int | None = Field(
        None, description="the SKU's own price, when a privilege of yours makes it lower"
    )
    quantity: int
    line_total: int
    available: bool


class CartOut(BaseModel):
    lines: list[CartLineOut]
    items_total: int
    shipping_fee: int
    total: int


class OrderLineOut(BaseModel):
    id: str
    title: str
    spec: str
    unit_price: int
    regular_price: int | None = Field(
        None, description="the SKU's own price, when a privilege of the buyer's made it lower"
    )
    quantity: int
    line_total: int
    shipped_quantity: int


class OrderEventOut(BaseModel):
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    at: datetime


class ShipmentOut(BaseModel):
    id: str
    carrier: str
    carrier_name: str
    tracking_number: str
    lines: list[dict[str, str | int]]
    shipped_at: datetime


class OrderOut(BaseModel):
    number: str
    shop: str
    status: OrderStatus
    status_label: str
    currency: str
    items_total: int
    shipping_fee: int
    total: int
    lines: list[OrderLineOut]
    recipient: str
    phone: str
    address: str
    province_code: str | None = Field(
        None, description="the delivery address's province adcode (GET /api/v1/regions)"
    )
    city_code: str | None = Field(None, description="its city's adcode")
    district_code: str | None = Field(
        None,
        description="its district's adcode; codes are null for older orders and orders with "
        "nothing to deliver, and city and district for an address given by names only",
    )
    note: str
    created_at: datetime
    pay_by: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    auto_confirm_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    source: OrderSource = Field(description="checkout, or payment_request: sent by the shop")
    referral: str | None = Field(
        None,
        description="who brought the buyer: store, staff, campaign or share (a customer's "
        "link); null when they came direct",
    )
    aftersales_open: bool = Field(
        description="an after-sales case is open on it: its money waits for the case's end"
    )
    events: list[OrderEventOut] | None = None
    shipments: list[ShipmentOut] | None = None


class OrderListOut(BaseModel):
    items: list[OrderOut]
    page: int
    has_next: bool


class ShipLineIn(StrictModel):
    line_id: str = Field(max_length=32)
    quantity: Quantity


class ShipmentIn(StrictModel):
    carrier: str = Field(max_length=16, examples=["SF"])
    tracking_number: str = Field(max_length=60, examples=["SF1234567890123"])
    lines: list[ShipLineIn] | None = Field(
        default=None, max_length=MAX_LINES, description="omit to ship everything left"
    )


class CarrierOut(BaseModel):
    code: str
    name: str


Fee = Annotated[WholeNumber, Field(ge=1, le=FEE_MAX, description="fen")]
Threshold = Annotated[WholeNumber, Field(ge=1, le=THRESHOLD_MAX, description="fen")]


class FreeShippingIn(StrictModel):
    kind: Literal[RuleKind.free]
    fee: Annotated[WholeNumber, Field(ge=0, le=FEE_MAX)] = Field(0, description="ignored")
    free_above: Threshold | None = Field(None, description="ignored")


class FlatFeeIn(StrictModel):
    kind: Literal[RuleKind.flat]
    fee: Fee
    free_above: Threshold | None = Field(None, description="ignored")


class FreeAboveIn(StrictModel):
    kind: Literal[RuleKind.free_above]
    fee: Fee
    free_above: Threshold = Field(description="items total from which shipping is free")


# One shape per kind, so the schema says which fields each kind needs.
ShippingRuleIn = Annotated[FreeShippingIn | FlatFeeIn | FreeAboveIn, Field(discriminator="kind")]


class RegionFeeIn(StrictModel):
    province_code: str = Field(pattern=r"^[0-9]{6}$", description="a province's adcode")
    fee: Fee = Field(description="extra fee in fen, added to the shipping fee")


class ShippingRegionsIn(StrictModel):
    """The shop's regional terms, replaced as a whole. A province is in one list at most."""

    extra: list[RegionFeeIn] = Field(default_factory=list, max_length=40)
    no_delivery: list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]] = Field(
        default_factory=list, max_length=40, description="province adcodes not delivered to"
    )


class RegionFeeOut(BaseModel):
    province_code: str
    province: str
    fee: int


class RegionOut(BaseModel):
    code: str
    name: str


class ShippingRuleOut(BaseModel):
    kind: RuleKind
    fee: int
    free_above: int | None
    description: str
    extra: list[RegionFeeOut] = Field(default_factory=list)
    no_delivery: list[RegionOut] = Field(default_factory=list)

"""JSON shapes of the catalog API. Amounts are integers in fen (1/100 yuan)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from pocketshop.accounts.schemas import StrictModel, WholeNumber
from pocketshop.catalog.adjustments import (
    ADJUSTMENT_NOTE_MAX,
    ADJUSTMENT_REASONS,
    AdjustmentReason,
)
from pocketshop.catalog.description import DESCRIPTION_MAX
from pocketshop.catalog.groups import GROUP_NAME_MAX
from pocketshop.catalog.service import (
    MAX_DIMENSIONS,
    MAX_SKUS,
    MAX_VALUES,
    PRICE_MAX,
    SKU_CODE_MAX,
    SPEC_NAME_MAX,
    SPEC_VALUE_MAX,
    STOCK_MAX,
    TITLE_MAX,
    ProductStatus,
)
from pocketshop.web import contract

Price = Annotated[WholeNumber, Field(ge=1, le=PRICE_MAX, description="amount in fen (1/100 yuan)")]
SpecValue = Annotated[str, contract.text(SPEC_VALUE_MAX)]


class SpecIn(StrictModel):
    name: str = contract.text(SPEC_NAME_MAX, examples=["颜色"])
    values: list[SpecValue] = Field(min_length=1, max_length=MAX_VALUES, examples=[["红", "蓝"]])


class SkuIn(StrictModel):
    spec: list[SpecValue] = Field(
        default_factory=list,
        max_length=MAX_DIMENSIONS,
        description="one value per spec, in spec order",
    )
    price: Price
    list_price: Price | None = Field(default=None, description="not below the price")
    stock: Annotated[WholeNumber, Field(ge=0, le=1_000_000)] = Field(
        default=0,
        description="initial stock of a new SKU; existing SKUs change stock only "
        "through stock adjustments",
    )
    code: str = contract.text(SKU_CODE_MAX, optional=True)


class ProductIn(StrictModel):
    title: str = contract.text(TITLE_MAX)
    description: str = Field(
        default="",
        max_length=DESCRIPTION_MAX,
        description="formatted text as HTML: p, br, strong/b, em/i, ul, ol, li and h3 are "
        "kept, without attributes; every other tag is dropped (its text kept; scripts and "
        "styles with their content), as are links, images and styles. Stored and answered "
        "cleaned.",
        examples=["<p>Hand stitched, <strong>full-grain</strong> leather.</p><ul><li>A</li></ul>"],
    )
    group_id: str | None = Field(default=None, max_length=32)
    category: str | None = Field(default=None, max_length=32, description="platform category code")
    specs: list[SpecIn] = Field(default_factory=list, max_length=MAX_DIMENSIONS)
    skus: list[SkuIn] = Field(min_length=1, max_length=MAX_SKUS)


class StatusIn(StrictModel):
    status: ProductStatus


class StockAdjustmentIn(StrictModel):
    delta: Annotated[
        WholeNumber,
        Field(
            ge=-STOCK_MAX,
            le=STOCK_MAX,
            description="not 0",
            json_schema_extra={"not": {"const": 0}},
        ),
    ]
    reason: AdjustmentReason = Field(description=", ".join(r.value for r in ADJUSTMENT_REASONS))
    note: str = contract.text(ADJUSTMENT_NOTE_MAX, optional=True)


class GroupIn(StrictModel):
    name: str = contract.text(GROUP_NAME_MAX)


class GroupOrderIn(StrictModel):
    groups: list[Annotated[str, Field(max_length=32)]] = Field(max_length=100)


class SkuOut(BaseModel):
    id: str
    spec: list[str]
    price: int
    list_price: int | None
    stock: int
    code: str


class ImageOut(BaseModel):
    id: str
    url: str
    thumb_url: str
    width: int
    height: int


class ProductOut(BaseModel):
    id: str
    title: str
    description: str = Field(description="cleaned HTML, as `description` in ProductIn allows")
    status: ProductStatus
    group_id: str | None
    category: str | None
    specs: list[SpecIn]
    skus: list[SkuOut]
    images: list[ImageOut]
    price_min: int
    price_max: int
    url: str
    created_at: datetime
    updated_at: datetime


class ProductSummaryOut(BaseModel):
    id: str
    title: str
    status: ProductStatus | None = None
    price_min: int
    price_max: int
    cover_url: str | None
    stock: int | None = None
    url: str


class ProductListOut(BaseModel):
    items: list[ProductSummaryOut]
    page: int
    has_next: bool


class StockAdjustmentOut(BaseModel):
    sku_id: str
    delta: int
    stock_after: int
    reason: str
    note: str
    created_at: datetime


class GroupOut(BaseModel):
    id: str
    name: str
    position: int


class CategoryOut(BaseModel):
    code: str
    name: str
    parent: str | None

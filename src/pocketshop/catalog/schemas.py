"""JSON shapes of the catalog API. Amounts are integers in fen (1/100 yuan)."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from pocketshop.accounts.schemas import StrictModel
from pocketshop.catalog.adjustments import ADJUSTMENT_REASONS, AdjustmentReason
from pocketshop.catalog.service import ProductStatus

Fen = Annotated[StrictInt, Field(ge=0, le=10**9, description="amount in fen (1/100 yuan)")]


class SpecIn(StrictModel):
    name: str = Field(max_length=40, examples=["颜色"])
    values: list[Annotated[str, Field(max_length=40)]] = Field(
        max_length=40, examples=[["红", "蓝"]]
    )


class SkuIn(StrictModel):
    spec: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=3, description="one value per spec, in spec order"
    )
    price: Fen
    list_price: Fen | None = None
    stock: Annotated[StrictInt, Field(ge=0, le=1_000_000)] = Field(
        default=0,
        description="initial stock of a new SKU; existing SKUs change stock only "
        "through stock adjustments",
    )
    code: str = Field(default="", max_length=60)


class ProductIn(StrictModel):
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=20_000, description="HTML; cleaned")
    group_id: str | None = Field(default=None, max_length=32)
    category: str | None = Field(default=None, max_length=32, description="platform category code")
    specs: list[SpecIn] = Field(default_factory=list, max_length=3)
    skus: list[SkuIn] = Field(min_length=1, max_length=400)


class StatusIn(StrictModel):
    status: ProductStatus


class StockAdjustmentIn(StrictModel):
    delta: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000)]
    reason: AdjustmentReason = Field(description=", ".join(r.value for r in ADJUSTMENT_REASONS))
    note: str = Field(default="", max_length=400)


class GroupIn(StrictModel):
    name: str = Field(max_length=60)


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
    description: str
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

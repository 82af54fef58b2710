from datetime import datetime

from pydantic import BaseModel, Field, StrictBool

from pocketshop.accounts.schemas import StrictModel
from pocketshop.attribution.service import ADDRESS_MAX, NAME_MAX
from pocketshop.web import contract


class SalesOut(BaseModel):
    orders: int = Field(description="paid orders it brought")
    total: int = Field(description="what they came to, in fen")


class StoreIn(StrictModel):
    name: str = contract.text(NAME_MAX, examples=["西湖店"])
    address: str = contract.text(ADDRESS_MAX, optional=True)


class StoreChange(StrictModel):
    name: str | None = contract.text(NAME_MAX, default=None)
    address: str | None = contract.text(ADDRESS_MAX, optional=True, default=None)
    active: StrictBool | None = Field(
        default=None, description="false archives it: its QR code brings no new customers"
    )


class StoreOut(BaseModel):
    id: str
    name: str
    address: str
    active: bool
    link: str = Field(description="what its QR code holds: orders through it count for it")
    sales: SalesOut
    created_at: datetime


class StaffIn(StrictModel):
    name: str = contract.text(NAME_MAX, examples=["小王"])
    phone: str = contract.phone(
        default="",
        description="their mobile (optional): their own purchases through their code do not count",
    )


class StaffChange(StrictModel):
    name: str | None = contract.text(NAME_MAX, default=None)
    phone: str | None = contract.phone(default=None, description="empty to remove")
    active: StrictBool | None = None


class StaffOut(BaseModel):
    id: str
    store_id: str
    name: str
    phone: str
    active: bool
    link: str
    sales: SalesOut
    created_at: datetime


class CampaignIn(StrictModel):
    label: str = contract.text(NAME_MAX, examples=["市集海报"])
    product_id: str = Field(
        default="", max_length=32, description="a product it leads to; empty: the shop's home"
    )


class CampaignChange(StrictModel):
    label: str | None = contract.text(NAME_MAX, default=None)
    active: StrictBool | None = None


class CampaignOut(BaseModel):
    id: str
    label: str
    product_id: str | None
    active: bool
    link: str
    visits: int = Field(description="times its link or QR code was followed")
    sales: SalesOut
    created_at: datetime

from datetime import datetime

from pydantic import BaseModel, Field

from pocketshop.accounts.schemas import StrictModel
from pocketshop.shops.service import REAL_NAME_MAX


class IdentityIn(StrictModel):
    real_name: str = Field(min_length=1, max_length=REAL_NAME_MAX, examples=["张三"])
    id_number: str = Field(max_length=32, examples=["11010519491231002X"])


class BankCardIn(StrictModel):
    holder_name: str = Field(min_length=1, max_length=REAL_NAME_MAX)
    card_number: str = Field(max_length=32, examples=["6222 0210 0100 0000 009"])
    bank: str = Field(max_length=16, description="bank code, e.g. ICBC, CMB")


class IdentityOut(BaseModel):
    real_name: str
    id_number_masked: str


class BankCardOut(BaseModel):
    bank: str
    bank_name: str
    last4: str


class ShopOut(BaseModel):
    id: str
    slug: str
    name: str
    description: str
    logo_url: str | None
    url: str
    qr_svg_url: str
    qr_png_url: str
    created_at: datetime


class OnboardingOut(BaseModel):
    step: str = Field(description="next step: identity, bank_card, shop or done")
    identity: IdentityOut | None
    bank_card: BankCardOut | None
    shop: ShopOut | None


class BankOut(BaseModel):
    code: str
    name: str

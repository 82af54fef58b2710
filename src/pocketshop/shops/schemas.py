from datetime import datetime

from pydantic import BaseModel, Field

from pocketshop.accounts.schemas import StrictModel
from pocketshop.shops.service import (
    BUSINESS_HOURS_MAX,
    DESCRIPTION_MAX,
    REAL_NAME_MAX,
    RETURN_ADDRESS_MAX,
    SHOP_NAME_MAX,
    WECHAT_ID_MAX,
)
from pocketshop.web import contract


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
    # What the storefront shows buyers; the owner's own phone is never here.
    service_phone: str = Field(description="customer service, E.164; empty when none given")
    wechat_id: str = Field(description="customer service WeChat ID; empty when none given")
    business_hours: str = Field(description="as the shop words them, e.g. 周一至周五 9:00-18:00")


class MyShopOut(ShopOut):
    """The shop as its owner sees it: with the return address, which only after-sales gives
    a buyer (once the shop agrees to take goods back)."""

    return_address: str = Field(description="where buyers send returns; empty when none given")


class ShopProfileIn(StrictModel):
    """The shop's settings; a field left out stays as it is, an empty optional one is
    cleared. The link (slug) never changes. The logo has its own route (multipart)."""

    name: str | None = contract.text(SHOP_NAME_MAX, default=None, examples=["小明的手作铺"])
    description: str | None = contract.text(DESCRIPTION_MAX, optional=True, default=None)
    service_phone: str | None = contract.phone(
        default=None,
        examples=["13800138000"],
        description="customer service mobile; empty to remove",
    )
    wechat_id: str | None = Field(
        default=None,
        max_length=WECHAT_ID_MAX,
        pattern=r"^(?:[A-Za-z0-9_-]{6,20})?$",
        examples=["xiaoming_shop"],
        description="6 to 20 letters, digits, underscores or hyphens; empty to remove",
    )
    business_hours: str | None = contract.text(
        BUSINESS_HOURS_MAX, optional=True, default=None, examples=["周一至周五 9:00-18:00"]
    )
    # At most this many code points: the column's size (a run of emoji counts as few
    # characters), so no `text-N` format here.
    return_address: str | None = Field(
        default=None,
        max_length=RETURN_ADDRESS_MAX,
        examples=["浙江省杭州市西湖区文三路 90 号 小明 13800138000"],
        description="where buyers send returns (after-sales); empty to remove",
    )


class OnboardingOut(BaseModel):
    step: str = Field(description="next step: identity, bank_card, shop or done")
    identity: IdentityOut | None
    bank_card: BankCardOut | None
    shop: ShopOut | None


class BankOut(BaseModel):
    code: str
    name: str

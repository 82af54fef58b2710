"""Seed data for `pocketshop demo`: a merchant who has opened a shop, ready to look around."""

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw
from stdnum import luhn
from stdnum.cn import ric

from pocketshop.accounts import service as accounts
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.shops import service as shops

DEMO_PHONE = "+8613800138000"
DEMO_NAME = "王小明"
DEMO_SHOP = "小明的手作铺"


@dataclass(frozen=True)
class DemoShop:
    phone: str
    slug: str


def demo_id_number() -> str:
    first17 = "11010519900307123"
    # calc_check_digit expects a full-length number and ignores its last character.
    return first17 + ric.calc_check_digit(first17 + "0")


def demo_card_number() -> str:
    first = "622202123456789012"
    return first + luhn.calc_check_digit(first)


def demo_logo() -> bytes:
    image = Image.new("RGB", (256, 256), "#e4572e")
    draw = ImageDraw.Draw(image)
    draw.ellipse((48, 48, 208, 208), fill="#ffc914")
    draw.rectangle((100, 96, 156, 176), fill="#e4572e")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def seed(db: Database, settings: Settings) -> DemoShop:
    async with db.transaction() as session:
        user = await accounts.get_or_create_user(session, DEMO_PHONE)
        await shops.verify_identity(
            session, settings, user, real_name=DEMO_NAME, id_number=demo_id_number()
        )
        await shops.bind_bank_card(
            session,
            settings,
            user,
            holder_name=DEMO_NAME,
            card_number=demo_card_number(),
            bank_code="CMB",
        )
        shop = await shops.open_shop(
            session,
            settings,
            user,
            name=DEMO_SHOP,
            description="手工皮具与布艺小物，每一件都是小明亲手做的。\n"
            "Handmade leather goods and fabric crafts.",
            logo=demo_logo(),
        )
        return DemoShop(phone=user.phone, slug=shop.slug)

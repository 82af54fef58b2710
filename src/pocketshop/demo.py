"""Seed data for `pocketshop demo`: a merchant with an open shop, grouped products with photos
and specs, a shipping rule, buyers' orders in several states, and 30 days of visits and sales
on the dashboard, ready to look around."""

import io
import itertools
from dataclasses import dataclass

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import luhn
from stdnum.cn import ric

from pocketshop import media
from pocketshop.accounts import service as accounts
from pocketshop.accounts.models import User
from pocketshop.aftersales import service as aftersales
from pocketshop.aftersales.states import Kind, Reason
from pocketshop.analytics import history, rollup
from pocketshop.analytics import service as analytics
from pocketshop.attribution import bindings
from pocketshop.attribution import service as promotion
from pocketshop.attribution.models import SourceKind
from pocketshop.catalog import groups as catalog_groups
from pocketshop.catalog import photos
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders import actions, addresses, checkout, shipping, shipping_fees
from pocketshop.orders import service as orders
from pocketshop.orders.checkout import LineRequest
from pocketshop.orders.models import OrderLine
from pocketshop.orders.shipping_fees import RuleKind
from pocketshop.payments import calls
from pocketshop.payments import service as payments
from pocketshop.payments.providers import Providers
from pocketshop.shops import logos
from pocketshop.shops import service as shops
from pocketshop.shops.models import Shop

DEMO_PHONE = "+8613800138000"
DEMO_NAME = "王小明"
DEMO_SHOP = "小明的手作铺"
BUYER_PHONES = ("+8613900139000", "+8613700137000")
# The platform's operator, who decides the demo's escalated after-sales case.
OPERATOR_PHONE = "+8613600136000"
# Xinjiang, Tibet and Qinghai: the extra fen shipping there costs.
REMOTE_EXTRA = {"650000": 1500, "540000": 1500, "630000": 1000}
RETURN_ADDRESS = "上海市徐汇区漕溪北路 88 号 小明的手作铺 收 13800138000"


@dataclass(frozen=True)
class DemoShop:
    phone: str
    slug: str


@dataclass(frozen=True)
class DemoProduct:
    group: str
    title: str
    description: str
    colours: tuple[str, str]  # background, shape: the generated photos
    specs: dict[str, list[str]]
    price: int
    list_price: int | None = None
    stock: int = 20
    status: ProductStatus = ProductStatus.on_sale


PRODUCTS = (
    DemoProduct(
        "皮具",
        "手缝植鞣皮短款钱包",
        "<p>意大利植鞣牛皮，手工缝线，越用越有光泽。</p>"
        "<p>Vegetable-tanned leather, hand stitched.</p>",
        ("#f3e2c7", "#8b5a2b"),
        {"颜色": ["原色", "棕色", "黑色"]},
        16800,
        19900,
    ),
    DemoProduct(
        "皮具",
        "极简卡包",
        "<p>放 6 张卡和几张纸币，薄到可以放进衬衫口袋。</p>",
        ("#e8eef2", "#3a5a40"),
        {"颜色": ["墨绿", "酒红"]},
        6800,
    ),
    DemoProduct(
        "皮具",
        "手工皮革钥匙扣",
        "<p>可以刻字的小礼物。</p>",
        ("#fff4e6", "#c0392b"),
        {},
        2900,
        stock=3,
    ),
    DemoProduct(
        "布艺",
        "帆布托特包",
        "<p>12 安帆布，内有小口袋，装得下 14 寸电脑。</p>",
        ("#eaf4f4", "#2b6777"),
        {"颜色": ["米白", "藏青"], "尺寸": ["小号", "大号"]},
        8900,
    ),
    DemoProduct(
        "布艺",
        "扎染方巾",
        "<p>每一块的花纹都不一样。</p>",
        ("#eef2ff", "#4f46e5"),
        {"花色": ["靛蓝", "灰紫", "雾粉"]},
        3900,
        stock=0,
    ),
    DemoProduct(
        "布艺",
        "亚麻杯垫（四只装）",
        "<p>吸水、耐洗。</p>",
        ("#f5f5dc", "#a0522d"),
        {},
        2500,
    ),
    DemoProduct(
        "定制",
        "皮革刻字服务",
        "<p>下单后在备注里写下要刻的字（最多 8 个字）。</p>",
        ("#fdf2f8", "#be185d"),
        {"字体": ["楷体", "英文衬线"]},
        1500,
        status=ProductStatus.off_shelf,
    ),
    DemoProduct(
        "定制",
        "新品：皮质笔袋（筹备中）",
        "<p>还在打样。</p>",
        ("#f1f5f9", "#334155"),
        {},
        7900,
        status=ProductStatus.draft,
    ),
)


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
    return _png(image)


def demo_photo(background: str, shape: str, variant: int) -> bytes:
    """A simple generated product photo: a shape on a soft background, one per variant."""
    image = Image.new("RGB", (800, 800), background)
    draw = ImageDraw.Draw(image)
    inset = 170 + 30 * variant
    if variant % 2 == 0:
        draw.rounded_rectangle((inset, inset + 60, 800 - inset, 800 - inset), 40, fill=shape)
        draw.line((inset + 30, 400, 800 - inset - 30, 400), fill=background, width=6)
    else:
        draw.ellipse((inset, inset, 800 - inset, 800 - inset), fill=shape)
    draw.ellipse((600, 80, 700, 180), fill="#ffffff")
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def _open_shop(
    session: AsyncSession, settings: Settings, files: media.Files, logo: bytes | None
) -> Shop:
    user = await accounts.get_or_create_user(session, DEMO_PHONE)
    logo_key = logos.stage(files, logo)
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
        logo_key=logo_key,
    )
    shop.return_address = RETURN_ADDRESS
    return shop


async def _add_products(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    files: media.Files,
    pictures: dict[str, list[photos.ProcessedPhoto]],
) -> list[str]:
    """Returns the public ids of the SKUs on sale, for the demo orders."""
    groups = {}
    for name in dict.fromkeys(product.group for product in PRODUCTS):
        groups[name] = await catalog_groups.create_group(session, shop, name)
    on_sale_skus: list[str] = []
    for item in PRODUCTS:
        dimensions = tuple(
            SpecDimension(name, tuple(values)) for name, values in item.specs.items()
        )
        combos = list(itertools.product(*(d.values for d in dimensions)))
        product = await catalog.create(
            session,
            shop,
            ProductInput(
                title=item.title,
                description=item.description,
                group_id=groups[item.group].public_id,
                specs=dimensions,
                skus=tuple(
                    SkuInput(
                        spec=combo,
                        price=item.price + 1000 * index,
                        list_price=item.list_price + 1000 * index if item.list_price else None,
                        stock=item.stock,
                        code=f"XM-{shop.id:03d}-{len(on_sale_skus) + index:03d}",
                    )
                    for index, combo in enumerate(combos)
                ),
            ),
        )
        staged = [photos.stage(files, picture) for picture in pictures[item.title]]
        await catalog.add_images(session, shop, product.public_id, staged)
        if item.status is not ProductStatus.draft:
            await catalog.set_status(session, shop, product.public_id, ProductStatus.on_sale)
        if item.status is ProductStatus.off_shelf:
            await catalog.set_status(session, shop, product.public_id, item.status)
        if item.status is ProductStatus.on_sale and item.stock > 0:
            on_sale_skus += [sku.public_id for sku in await catalog.skus_of(session, product)]
    return on_sale_skus


AFTERSALES = ("return_asked", "escalated")


@dataclass(frozen=True)
class _Planned:
    number: str
    state: str
    buyer_id: int
    index: int


async def _add_promotion(
    session: AsyncSession, settings: Settings, shop: Shop, buyers: list[User]
) -> None:
    """Two stores with staff and two campaign links; the first buyer came through a staff
    member's QR code, the second through a campaign link, so their orders are attributed."""
    lake = await promotion.create_store(
        session, shop, name="西湖店", address="杭州市西湖区文三路 90 号"
    )
    await promotion.create_store(session, shop, name="滨江店", address="杭州市滨江区江南大道 3 号")
    wang = await promotion.add_staff(session, shop, lake, name="小王")
    await promotion.add_staff(session, shop, lake, name="小李")
    market = await promotion.create_campaign(session, shop, label="市集海报")
    await promotion.create_campaign(session, shop, label="老客户群")
    for buyer, kind, ref in (
        (buyers[0], SourceKind.staff, wang.id),
        (buyers[1], SourceKind.campaign, market.id),
    ):
        source = await bindings.resolve(session, shop, kind, ref)
        assert source is not None
        await bindings.bind(session, settings, shop, buyer, source)


async def _add_orders(
    session: AsyncSession, settings: Settings, shop: Shop, skus: list[str]
) -> list[_Planned]:
    """Orders to bring into each state the console shows, from two buyers."""
    buyers = [await accounts.get_or_create_user(session, phone) for phone in BUYER_PHONES]
    homes = [
        addresses.AddressInput("李雷", "13900139000", "浙江省", "杭州市", "西湖区", "文三路 90 号"),
        addresses.AddressInput(
            "韩梅梅", "13700137000", "北京市", "北京市", "海淀区", "中关村大街 1 号"
        ),
    ]
    for buyer, home in zip(buyers, homes, strict=True):
        await addresses.create(session, buyer, home, make_default=True)
    await _add_promotion(session, settings, shop, buyers)
    plans = [
        ("completed", [0, 3]),
        ("shipped", [1]),
        ("partially_shipped", [2, 4]),
        ("paid", [5, 0]),
        ("paid", [6]),
        ("pending_payment", [3]),
        ("closed", [1]),
        # Received, then: a return asked for (waiting for the shop); a refund refused and
        # escalated to the platform.
        ("return_asked", [2]),
        ("escalated", [4]),
    ]
    planned = []
    for index, (state, picks) in enumerate(plans):
        buyer = buyers[index % 2]
        book = await addresses.default_for(session, buyer)
        assert book is not None
        created = await checkout.create(
            session,
            settings,
            buyer,
            shop,
            lines=[LineRequest(skus[pick % len(skus)], 1 + pick % 2) for pick in picks],
            address_id=book.public_id,
            note="请尽快发货，谢谢！" if index == 3 else "",
        )
        planned.append(_Planned(created.order.number, state, buyer.id, index))
    return planned


async def _bring_along(
    db: Database, settings: Settings, providers: Providers, shop: Shop, order: _Planned
) -> None:
    """Pay the order through the sandbox (between transactions, as a buyer does), then
    ship, confirm and refund it as its state asks."""
    if order.state == "pending_payment":
        return
    if order.state == "closed":
        async with db.transaction() as session:
            buyer = await session.get_one(User, order.buyer_id)
            await actions.cancel_by_buyer(session, settings, buyer, order.number)
        return
    await calls.pay_in_sandbox(db, settings, providers, order.buyer_id, order.number)
    async with db.transaction() as session:
        placed = await orders.get_for_shop_or_404(session, shop, order.number)
        lines = await orders.lines_of(session, placed)
        if order.state == "partially_shipped":
            await shipping.ship(
                session,
                settings,
                shop,
                order.number,
                carrier="SF",
                tracking_number=f"SF{1400000000000 + order.index}",
                lines=[shipping.ShipLine(lines[0].public_id, lines[0].quantity)],
            )
        elif order.state in ("shipped", "completed", *AFTERSALES):
            await shipping.ship(
                session,
                settings,
                shop,
                order.number,
                carrier="ZTO",
                tracking_number=f"7730{10000000000 + order.index}",
            )
            if order.state == "completed":
                buyer = await session.get_one(User, order.buyer_id)
                await actions.confirm_receipt(session, settings, buyer, order.number)
                # A part refunded after receipt: the console's money page shows both.
                await payments.refund_by_merchant(
                    session, settings, placed, amount=500, reason="少发赠品", idempotency_key=None
                )
            if order.state in AFTERSALES:
                buyer = await session.get_one(User, order.buyer_id)
                await actions.confirm_receipt(session, settings, buyer, order.number)
                await _ask_aftersales(session, settings, shop, buyer, order, lines[0])


async def _ask_aftersales(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    buyer: User,
    order: _Planned,
    line: OrderLine,
) -> None:
    """The buyer asks to return the first line; for the escalated one, the shop refuses and
    the buyer asks the platform."""
    kind = Kind.return_refund if order.state == "return_asked" else Kind.refund_only
    case = await aftersales.apply(
        session,
        settings,
        buyer,
        order.number,
        aftersales.Application(
            line_id=line.public_id,
            kind=kind,
            quantity=1,
            reason=Reason.damaged if kind is Kind.return_refund else Reason.not_as_described,
            description="收到时边角开线了" if kind is Kind.return_refund else "颜色和图片差很多",
        ),
    )
    if order.state == "escalated":
        owner = await session.get_one(User, shop.owner_id)
        await aftersales.refuse(
            session,
            settings,
            shop,
            case.public_id,
            user_id=owner.id,
            reason="实物颜色与图片一致，详情页已注明手工染色有色差",
        )
        await aftersales.escalate(session, settings, buyer, case.public_id, note="请平台看看照片")


async def shop_of_demo(session: AsyncSession) -> Shop | None:
    """The demo's shop, once seeded: where the demo's home page leads."""
    return await session.scalar(
        select(Shop).join(User, User.id == Shop.owner_id).where(User.phone == DEMO_PHONE)
    )


async def seed(db: Database, settings: Settings, providers: Providers) -> DemoShop:
    # Pictures decoded before the transaction that records them, as uploads are.
    pictures = {
        item.title: await photos.prepare(
            settings, [demo_photo(*item.colours, variant) for variant in range(3)]
        )
        for item in PRODUCTS
    }
    logo = await logos.prepare(settings, demo_logo())
    with media.staged(settings) as files:
        async with db.transaction() as session:
            shop = await _open_shop(session, settings, files, logo)
            await shipping_fees.set_rule(
                session, shop, kind=RuleKind.free_above, fee=800, free_above=9900
            )
            # Remote provinces cost more to ship to, as in most shops' templates.
            await shipping_fees.set_regions(session, shop, extra=REMOTE_EXTRA, no_delivery=[])
            skus = await _add_products(session, settings, shop, files, pictures)
            planned = await _add_orders(session, settings, shop, skus)
            await accounts.set_operator(session, OPERATOR_PHONE, on=True)
    for order in planned:
        await _bring_along(db, settings, providers, shop, order)
    await _add_history(db, shop)
    return DemoShop(phone=DEMO_PHONE, slug=shop.slug)


async def _add_history(db: Database, shop: Shop) -> None:
    """The dashboard's 30 days: visits and sales of the days before (made up: no orders are
    behind them), today's visits, and today's rollup from them and the orders just paid."""
    async with db.transaction() as session:
        on_sale = await catalog.list_for_shop(session, shop, status=ProductStatus.on_sale)
        items = [history.Item(product.id, product.price_min) for product in on_sale.products]
        await history.invent(
            session, shop, items, today=analytics.today_of(shop), shipping=(800, 9900)
        )
    await rollup.refresh(db)

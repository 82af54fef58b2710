"""Sold-out SKUs on a product page in headless Chromium: with two specs, a value that sells
out with the other choice is greyed out, one with no stock with any choice cannot be picked,
and choosing a sold-out SKU turns both buy buttons off, the main one saying "sold out".

Screenshot: product-sold-out-sku. Selectors use names, values and structure, never interface
text (the translated labels come from the catalogue).
"""

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pocketshop.accounts import service as accounts
from pocketshop.catalog import service as catalog
from pocketshop.catalog.service import ProductInput, ProductStatus, SkuInput, SpecDimension
from pocketshop.config import Settings
from pocketshop.runtime import build
from tests.browser.conftest import LiveServer, skip_without_playwright
from tests.commerce import open_verified_shop, stage_photos
from tests.support import image_bytes, tr

skip_without_playwright()

from playwright.sync_api import Locator, Page, expect  # noqa: E402

from tests.browser.test_console import shoot  # noqa: E402

pytestmark = pytest.mark.browser

SPECS = {"颜色": ("红", "蓝", "黑"), "尺码": ("S", "M")}
# 红/M sold out; 黑 sold out in every size.
STOCK = {
    ("红", "S"): 5,
    ("红", "M"): 0,
    ("蓝", "S"): 3,
    ("蓝", "M"): 2,
    ("黑", "S"): 0,
    ("黑", "M"): 0,
}


async def _seed(settings: Settings) -> str:
    """A shop with one two-spec product on sale: its page's path."""
    runtime = build(settings)
    try:
        async with runtime.db.transaction() as session:
            owner = await accounts.get_or_create_user(session, "+8613800138077")
            shop = await open_verified_shop(session, settings, owner, "小明的手作铺")
            dimensions = tuple(SpecDimension(name, values) for name, values in SPECS.items())
            skus = tuple(
                SkuInput(spec=combo, price=9900, stock=STOCK[combo])
                for combo in itertools.product(*SPECS.values())
            )
            product = await catalog.create(
                session, shop, ProductInput(title="帆布包", specs=dimensions, skus=skus)
            )
        await stage_photos(runtime.db, settings, shop, product.public_id, [image_bytes()])
        async with runtime.db.transaction() as session:
            await catalog.set_status(session, shop, product.public_id, ProductStatus.on_sale)
        return f"/s/{shop.slug}/p/{product.public_id}"
    finally:
        await runtime.close()


def test_sold_out_skus_are_marked_and_cannot_be_bought(
    page: Page, live_server: LiveServer, artifacts_dir: Path
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        path = pool.submit(asyncio.run, _seed(live_server.app.state.settings)).result()
    page.goto(path)
    add, buy = page.locator("button.add-to-cart"), page.locator("button.buy-now")

    def value(name: str) -> tuple[Locator, Locator]:
        radio = page.locator(f"input[type=radio][value='{name}']")
        return radio, page.locator(f"label.spec-value:has(input[value='{name}'])")

    black, black_label = value("黑")
    expect(black).to_be_disabled()  # sold out whatever the size
    expect(black_label).to_have_class("spec-value sold-out")

    red, _red_label = value("红")
    red.check()
    medium, medium_label = value("M")
    expect(medium_label).to_have_class("spec-value sold-out")  # 红/M: none left
    expect(medium).to_be_enabled()  # 蓝/M has some: choosing it is not a trap
    expect(buy).to_be_enabled()

    medium.check()
    expect(add).to_be_disabled()
    expect(buy).to_be_disabled()
    expect(buy).to_have_text(tr("Sold out"))
    expect(page.locator("[data-stock]")).to_have_class("stock-state is-sold-out")
    shoot(page, artifacts_dir, "product-sold-out-sku")

    value("蓝")[0].check()
    expect(buy).to_be_enabled()
    expect(buy).to_have_text(tr("Buy now"))
    expect(medium_label).to_have_class("spec-value")

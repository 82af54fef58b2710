"""The console's products pages through the HTML forms: the list, the editor with its SKU
matrix (with and without the "update combinations" round trip), photos, stock, publishing,
groups; bad input refused with nothing stored; another shop's products out of reach."""

import itertools
import json
import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from pocketshop.catalog import groups
from pocketshop.catalog.models import Product, ProductGroup, ProductImage, Sku, StockAdjustment
from pocketshop.catalog.service import ProductStatus
from pocketshop.config import Settings
from tests.commerce import Merchant, add_photos, make_merchant, make_product, row_counts
from tests.support import csrf_from, image_bytes, media_files, page_alert, page_login

SPECS = {"颜色": ["红", "蓝"], "尺码": ["S", "M"]}


def product_form(
    csrf: str,
    *,
    title: str = "手工帆布包",
    specs: dict[str, list[str]] | None = None,
    prices: dict[tuple[str, ...], str] | None = None,
    price: str = "59.90",
    stock: str = "5",
    action: str = "save",
    skip: set[tuple[str, ...]] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The editor's fields for every combination of `specs` (minus `skip`)."""
    specs = SPECS if specs is None else specs
    data = {"csrf_token": csrf, "title": title, "action": action, "description": ""}
    for slot, (name, values) in enumerate(specs.items()):
        data[f"spec_{slot}_name"] = name
        data[f"spec_{slot}_values"] = ", ".join(values)
    combos = [combo for combo in itertools.product(*specs.values()) if combo not in (skip or ())]
    for index, combo in enumerate(combos):
        data[f"sku_{index}_spec"] = json.dumps(list(combo), ensure_ascii=False)
        data[f"sku_{index}_price"] = (prices or {}).get(combo, price)
        data[f"sku_{index}_stock"] = stock
    return data | extra


async def logged_in(client: httpx.AsyncClient, app: FastAPI, merchant: Merchant) -> str:
    """Log the merchant in through the pages; returns a CSRF token for the console's forms."""
    response = await page_login(client, app, merchant.user.phone, "/console/products")
    assert response.status_code == 303, response.text
    page = await client.get("/console/products")
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def skus_of(app: FastAPI, public_id: str) -> dict[tuple[str, ...], Sku]:
    async with app.state.db.transaction(write=False) as session:
        product = await session.scalar(select(Product).where(Product.public_id == public_id))
        rows = await session.scalars(
            select(Sku).where(Sku.product_id == product.id, Sku.active.is_(True))
        )
        return {tuple(sku.spec_values): sku for sku in rows}


async def product_row(app: FastAPI, public_id: str) -> Product:
    async with app.state.db.transaction(write=False) as session:
        return (await session.scalars(select(Product).where(Product.public_id == public_id))).one()


def created_id(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    found = re.fullmatch(
        r"/console/products/([0-9a-f]{32})\?done=\w+", response.headers["location"]
    )
    assert found, response.headers["location"]
    return found.group(1)


def matrix_rows(html: str) -> list[dict[str, str]]:
    """The editor's matrix rows as shown: the fields of each combination by name."""
    table = html.split("data-sku-rows", 1)[1].split("<template", 1)[0]
    rows = []
    for block in table.split("data-sku-row>")[1:]:
        fields = dict(re.findall(r'name="sku_\d+_(\w+)" value="([^"]*)"', block))
        fields["spec"] = json.loads(fields["spec"].replace("&#34;", '"'))
        rows.append(fields)
    return rows


def row_specs(html: str) -> list[list[str]]:
    return [row["spec"] for row in matrix_rows(html)]


async def test_not_logged_in_goes_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/products")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_create_a_product_with_a_matrix_without_javascript(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    csrf = await logged_in(client, app, merchant)
    blank = await client.get("/console/products/new")
    assert blank.status_code == 200
    assert row_specs(blank.text) == [[]]  # no specs yet: one price and stock

    # "Update combinations" with the specs typed: the 2×2 table, nothing stored.
    data = {
        "csrf_token": csrf,
        "action": "matrix",
        "title": "手工帆布包",
        "spec_0_name": "颜色",
        "spec_0_values": "红，蓝",
        "spec_1_name": "尺码",
        "spec_1_values": "S\nM",
        "sku_0_spec": "[]",
        "sku_0_price": "10",
    }
    table = await client.post("/console/products", data=data)
    assert table.status_code == 200, table.text
    assert row_specs(table.text) == [["红", "S"], ["红", "M"], ["蓝", "S"], ["蓝", "M"]]
    assert 'value="手工帆布包"' in table.text
    assert (await row_counts(app))["products"] == 0

    # A third colour: typed prices stay with their combinations.
    typed = product_form(csrf, action="matrix", prices={("红", "S"): "12.50"})
    typed["spec_0_values"] = "红, 蓝, 绿"
    grown = await client.post("/console/products", data=typed)
    assert len(row_specs(grown.text)) == 6
    prices = {tuple(row["spec"]): row["price"] for row in matrix_rows(grown.text)}
    assert prices[("红", "S")] == "12.50"
    assert prices[("绿", "M")] == ""

    # Save: four SKUs with their prices and initial stock, a draft.
    saved = await client.post(
        "/console/products",
        data=product_form(csrf, prices={("蓝", "M"): "69"}, stock="7"),
    )
    public_id = created_id(saved)
    skus = await skus_of(app, public_id)
    assert {spec: (sku.price, sku.stock) for spec, sku in skus.items()} == {
        ("红", "S"): (5990, 7),
        ("红", "M"): (5990, 7),
        ("蓝", "S"): (5990, 7),
        ("蓝", "M"): (6900, 7),
    }
    product = await product_row(app, public_id)
    assert product.status == ProductStatus.draft
    assert (product.price_min, product.price_max) == (5990, 6900)

    editor = await client.get(saved.headers["location"])
    assert editor.status_code == 200
    assert 'role="status"' in editor.text
    assert row_specs(editor.text) == [["红", "S"], ["红", "M"], ["蓝", "S"], ["蓝", "M"]]


async def test_plain_description_becomes_paragraphs_and_lists(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Without JavaScript the description is a plain text box: what is typed is text, tags
    included; blank lines make paragraphs, "• " and "1. " lines lists."""
    merchant = await make_merchant(app)
    csrf = await logged_in(client, app, merchant)
    typed = "第一行 <3\n第二行\n\n• 红\n• 蓝\n\n1. 洗\n2. 晾\n\n<b>不是粗体</b>"
    saved = await client.post(
        "/console/products", data=product_form(csrf, specs={}, description=typed)
    )
    product = await product_row(app, created_id(saved))
    assert product.description_html == (
        "<p>第一行 &lt;3<br>第二行</p><ul><li>红</li><li>蓝</li></ul>"
        "<ol><li>洗</li><li>晾</li></ol><p>&lt;b&gt;不是粗体&lt;/b&gt;</p>"
    )
    # The text box shows it back as typed, the formatting editor as formatted text.
    editor = await client.get(f"/console/products/{product.public_id}")
    box = editor.text.split('name="description"', 1)[1].split("</textarea>", 1)[0]
    assert box.split(">", 1)[1] == (
        "第一行 &lt;3\n第二行\n\n• 红\n• 蓝\n\n1. 洗\n2. 晾\n\n&lt;b&gt;不是粗体&lt;/b&gt;"
    )
    assert "<ul><li>红</li><li>蓝</li></ul>" in editor_area(editor.text)


def editor_area(html: str) -> str:
    """What the formatting editor (console.js's contenteditable) starts with."""
    return html.split("data-rich-editor", 1)[1].split(">", 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ('<p onclick="x()">好</p><script>x()</script>', "<p>好</p>"),
        ('<p style="color:red">红</p><style>p{}</style>', "<p>红</p>"),
        ('<p>看<a href="https://evil.example/">这里</a></p>', "<p>看这里</p>"),
        ('<img src="x" onerror="alert(1)"><p>图</p>', "<p>图</p>"),
        (
            "<div>一行</div><div><b>粗</b>和<i>斜</i></div>",
            "<p>一行</p><p><b>粗</b>和<i>斜</i></p>",
        ),
        (
            "<h3>尺寸</h3><p>长<br>宽</p><ul><li>A</li></ul><ol><li>B</li></ol>",
            "<h3>尺寸</h3><p>长<br>宽</p><ul><li>A</li></ul><ol><li>B</li></ol>",
        ),
        ("<p><strong>S</strong><em>E</em></p><p><br></p>", "<p><strong>S</strong><em>E</em></p>"),
        ("<p><br></p>", ""),
    ],
)
async def test_formatted_description_is_cleaned_and_shown_formatted(
    app: FastAPI, client: httpx.AsyncClient, sent: str, stored: str
) -> None:
    """The formatting editor's HTML (description_html, filled by console.js) keeps its
    formatting and nothing else; the editor and the storefront show it formatted."""
    merchant = await make_merchant(app)
    csrf = await logged_in(client, app, merchant)
    saved = await client.post(
        "/console/products",
        data=product_form(csrf, specs={}, description="ignored", description_html=sent),
    )
    product = await product_row(app, created_id(saved))
    assert product.description_html == stored
    editor = await client.get(f"/console/products/{product.public_id}")
    assert editor_area(editor.text) == stored
    assert "&lt;" not in editor_area(editor.text)


async def test_editing_keeps_the_formatting(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    csrf = await logged_in(client, app, merchant)
    html = "<p>好<strong>包</strong></p><ul><li>牛皮</li></ul>"
    data = product_form(csrf, specs={}, description_html=html)
    assert (await client.post(f"/console/products/{made.id}", data=data)).status_code == 303
    assert (await product_row(app, made.id)).description_html == html
    # A refused save shows what was typed, formatted, again.
    data = product_form(csrf, specs={}, title="", description_html=html + "<script>x</script>")
    refused = await client.post(f"/console/products/{made.id}", data=data)
    assert refused.status_code == 422
    assert editor_area(refused.text) == html


async def test_edit_prices_keeps_stock_and_publish_in_one_go(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs=SPECS, stock=10, status=ProductStatus.draft)
    await add_photos(app, merchant.shop, made.id, [image_bytes()])
    csrf = await logged_in(client, app, merchant)
    # The stock posted for existing SKUs is ignored: stock changes through adjustments only.
    data = product_form(
        csrf, title="新标题", prices={("红", "S"): "88"}, stock="999", action="publish"
    )
    response = await client.post(f"/console/products/{made.id}", data=data)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/console/products/{made.id}?done=published"
    skus = await skus_of(app, made.id)
    assert skus[("红", "S")].price == 8800
    assert skus[("蓝", "M")].price == 5990
    assert {sku.stock for sku in skus.values()} == {10}
    product = await product_row(app, made.id)
    assert (product.title, product.status) == ("新标题", ProductStatus.on_sale)

    # Dropping a size: its SKUs are deactivated; adding one: new SKUs with their initial stock.
    data = product_form(csrf, specs={"颜色": ["红", "蓝"], "尺码": ["M", "L"]}, stock="3")
    response = await client.post(f"/console/products/{made.id}", data=data)
    assert response.status_code == 303, response.text
    skus = await skus_of(app, made.id)
    assert {spec: sku.stock for spec, sku in skus.items()} == {
        ("红", "M"): 10,
        ("红", "L"): 3,
        ("蓝", "M"): 10,
        ("蓝", "L"): 3,
    }
    editor = await client.get(f"/console/products/{made.id}")
    assert 'value="10" readonly' in editor.text


async def test_adjust_stock_with_a_reason_shows_in_the_history(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs=SPECS, stock=10)
    csrf = await logged_in(client, app, merchant)
    sku = made.sku("蓝", "S")
    response = await client.post(
        f"/console/products/{made.id}/stock",
        data={
            "csrf_token": csrf,
            "sku": sku.public_id,
            "delta": "-3",
            "reason": "damaged",
            "note": "运输压坏",
        },
    )
    assert response.status_code == 303, response.text
    assert (await skus_of(app, made.id))[("蓝", "S")].stock == 7
    editor = await client.get(response.headers["location"])
    history = editor.text.split('class="history"')[1]
    assert "-3" in history
    assert "运输压坏" in history
    assert "蓝 / S" in history

    # Below zero, nonsense numbers, unknown reasons: the message, nothing changed.
    before = await row_counts(app)
    for delta, reason in (("-11", "damaged"), ("abc", "restock"), ("1.5", "restock"), ("2", "x")):
        refused = await client.post(
            f"/console/products/{made.id}/stock",
            data={"csrf_token": csrf, "sku": sku.public_id, "delta": delta, "reason": reason},
        )
        assert refused.status_code in (409, 422), refused.text
        page_alert(refused.text)
        assert f'value="{delta}"' in refused.text
    assert await row_counts(app) == before


async def test_photos_upload_cover_and_remove(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    csrf = await logged_in(client, app, merchant)
    files = [
        ("images", ("a.png", image_bytes(), "image/png")),
        ("images", ("b.jpg", image_bytes("JPEG"), "image/jpeg")),
    ]
    response = await client.post(
        f"/console/products/{made.id}/images", data={"csrf_token": csrf}, files=files
    )
    assert response.status_code == 303, response.text
    editor = await client.get(f"/console/products/{made.id}")
    thumbs = re.findall(r'<img src="(/media/[^"]+)"', editor.text)
    assert len(thumbs) == 2
    assert (await client.get(thumbs[0])).status_code == 200

    async with app.state.db.transaction(write=False) as session:
        images = list(await session.scalars(select(ProductImage).order_by(ProductImage.position)))
    second = images[1]
    response = await client.post(
        f"/console/products/{made.id}/images/{second.public_id}/cover", data={"csrf_token": csrf}
    )
    assert response.status_code == 303
    assert (await product_row(app, made.id)).cover_key == second.thumb_key
    response = await client.post(
        f"/console/products/{made.id}/images/{second.public_id}/remove", data={"csrf_token": csrf}
    )
    assert response.status_code == 303
    assert (await product_row(app, made.id)).cover_key == images[0].thumb_key

    # Not an image: back to the editor's photos (refresh or back posts nothing again), the
    # message next to the photo field, nothing stored.
    before = await row_counts(app)
    refused = await client.post(
        f"/console/products/{made.id}/images",
        data={"csrf_token": csrf},
        files=[("images", ("x.png", b"not an image", "image/png"))],
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == (
        f"/console/products/{made.id}?photo_error=invalid_image#photos"
    )
    assert_photo_error(await client.get(refused.headers["location"]), "invalid_image")
    assert await row_counts(app) == before

    # The last photo of a product on sale stays.
    await client.post(
        f"/console/products/{made.id}/status", data={"csrf_token": csrf, "status": "on_sale"}
    )
    assert (await product_row(app, made.id)).status == ProductStatus.on_sale
    refused = await client.post(
        f"/console/products/{made.id}/images/{images[0].public_id}/remove",
        data={"csrf_token": csrf},
    )
    assert refused.headers["location"] == (
        f"/console/products/{made.id}?photo_error=photo_required#photos"
    )
    assert await row_counts(app) == before


def assert_photo_error(page: httpx.Response, code: str) -> None:
    """The refusal next to the photo field (not above the form), which is marked invalid
    and focused, so a phone scrolls to it."""
    assert page_alert(page.text)[0] == code
    photos = page.text.split('id="photos"', 1)[1]
    assert 'id="form-error"' in photos
    assert 'id="form-error"' not in page.text.split('id="photos"', 1)[0]
    file_input = re.search(r'<input type="file" name="images"[^>]*>', photos)
    assert file_input, photos
    assert 'aria-invalid="true" aria-describedby="form-error" autofocus' in file_input.group(0)


async def test_photo_errors_in_the_address_are_fixed_texts(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    await logged_in(client, app, merchant)
    for code in ("invalid_image", "image_too_large", "too_many_images", "photo_required"):
        page = await client.get(f"/console/products/{made.id}", params={"photo_error": code})
        assert_photo_error(page, code)
    # Anything else in the address is not shown, nor any error.
    page = await client.get(
        f"/console/products/{made.id}", params={"photo_error": "<script>x</script>"}
    )
    assert page.status_code == 200
    assert "<script>x" not in page.text
    assert "&lt;script&gt;x" not in page.text
    assert 'id="form-error"' not in page.text


async def test_publish_and_take_off_shelf_from_the_list(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    csrf = await logged_in(client, app, merchant)
    # Without a photo it cannot go on sale: the editor says so next to the photos.
    response = await client.post(
        f"/console/products/{made.id}/status",
        data={"csrf_token": csrf, "status": "on_sale", "next": "/console/products?status=draft"},
    )
    assert response.headers["location"] == (
        f"/console/products/{made.id}?photo_error=photo_required#photos"
    )
    assert_photo_error(await client.get(response.headers["location"]), "photo_required")
    assert (await product_row(app, made.id)).status == ProductStatus.draft
    await add_photos(app, merchant.shop, made.id, [image_bytes()])
    drafts = await client.get("/console/products?status=draft")
    assert made.id in drafts.text
    assert made.id not in (await client.get("/console/products?status=on_sale")).text

    response = await client.post(
        f"/console/products/{made.id}/status",
        data={"csrf_token": csrf, "status": "on_sale", "next": "/console/products?status=draft"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/products?status=draft&done=on_sale"
    assert (await product_row(app, made.id)).status == ProductStatus.on_sale
    listed = await client.get("/console/products?status=on_sale")
    assert made.id in listed.text
    assert "¥99.00" in listed.text

    response = await client.post(
        f"/console/products/{made.id}/status",
        data={"csrf_token": csrf, "status": "off_shelf", "next": "https://evil.example/"},
    )
    assert response.headers["location"] == f"/console/products/{made.id}?done=off_shelf"
    assert (await product_row(app, made.id)).status == ProductStatus.off_shelf
    # A draft cannot go off the shelf twice: 409 page, not a crash.
    again = await client.post(
        f"/console/products/{made.id}/status", data={"csrf_token": csrf, "status": "off_shelf"}
    )
    assert again.status_code == 409


async def test_list_search_and_pagination(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    for index in range(21):
        await make_product(app, merchant.shop, f"商品{index:02d}")
    await make_product(app, merchant.shop, "100%_纯棉 T恤")
    await logged_in(client, app, merchant)
    found = await client.get("/console/products", params={"q": "%_纯"})
    assert "100%_纯棉 T恤" in found.text
    assert "商品01" not in found.text
    first = await client.get("/console/products")
    assert 'rel="next"' in first.text
    second = await client.get("/console/products?page=2")
    assert "商品00" in second.text
    assert 'rel="prev"' in second.text


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"title": "  "}, "title_required"),
        ({"sku_0_price": "abc"}, "invalid_price"),
        ({"sku_0_price": "-1"}, "invalid_price"),
        ({"sku_0_price": "1.234"}, "invalid_price"),
        ({"sku_0_price": ""}, "invalid_price"),
        ({"sku_1_list_price": "1"}, "invalid_list_price"),
        ({"sku_2_stock": "many"}, "invalid_number"),
        ({"spec_0_values": "红, 红"}, "invalid_spec"),
        ({"category": "no-such-category"}, "invalid_category"),
    ],
)
async def test_bad_input_is_refused_with_nothing_stored(
    app: FastAPI, client: httpx.AsyncClient, change: dict[str, str], code: str
) -> None:
    merchant = await make_merchant(app)
    csrf = await logged_in(client, app, merchant)
    before = await row_counts(app)
    data = product_form(csrf, title="保留的标题") | change
    response = await client.post("/console/products", data=data)
    assert response.status_code in (404, 422), response.text
    assert page_alert(response.text)[0] == code
    assert await row_counts(app) == before
    if "title" not in change:
        assert 'value="保留的标题"' in response.text  # what was typed stays


async def test_missing_combination_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, specs=SPECS)
    csrf = await logged_in(client, app, merchant)
    before = await row_counts(app)
    for url in ("/console/products", f"/console/products/{made.id}"):
        response = await client.post(url, data=product_form(csrf, skip={("蓝", "M")}))
        assert response.status_code == 422
        assert page_alert(response.text)[0] == "invalid_sku"
    assert await row_counts(app) == before
    damaged = await client.post(
        "/console/products", data=product_form(csrf) | {"sku_0_spec": "not json"}
    )
    assert damaged.status_code == 422
    assert await row_counts(app) == before


async def test_titles_are_escaped(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "<script>alert(1)</script>")
    await logged_in(client, app, merchant)
    for url in ("/console/products", f"/console/products/{made.id}"):
        page = await client.get(url)
        assert "<script>alert(1)" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_groups_create_rename_reorder_delete(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    csrf = await logged_in(client, app, merchant)
    for name in ("新品", "热卖", "<b>折扣</b>"):
        response = await client.post("/console/groups", data={"csrf_token": csrf, "name": name})
        assert response.status_code == 303, response.text
    page = await client.get("/console/groups")
    assert "&lt;b&gt;折扣&lt;/b&gt;" in page.text
    duplicate = await client.post("/console/groups", data={"csrf_token": csrf, "name": "新品"})
    assert page_alert(duplicate.text)[0] == "group_exists"

    async def names() -> list[str]:
        async with app.state.db.transaction(write=False) as session:
            groups = await session.scalars(
                select(ProductGroup).order_by(ProductGroup.position, ProductGroup.id)
            )
            return [group.name for group in groups]

    # "Move down" on the first group posts the order with the first two swapped.
    down = re.search(r'name="order" value="([^"]+)"[^>]*aria-label="[^"]*"\s*>↓', page.text)
    assert down
    await client.post("/console/groups/order", data={"csrf_token": csrf, "order": down.group(1)})
    assert await names() == ["热卖", "新品", "<b>折扣</b>"]

    async with app.state.db.transaction(write=False) as session:
        first = await session.scalar(select(ProductGroup).where(ProductGroup.name == "热卖"))
    await client.post(
        f"/console/groups/{first.public_id}", data={"csrf_token": csrf, "name": "爆款"}
    )
    await client.post(f"/console/groups/{first.public_id}/delete", data={"csrf_token": csrf})
    assert await names() == ["新品", "<b>折扣</b>"]

    # The editor offers the groups.
    editor = await client.get("/console/products/new")
    assert "新品" in editor.text


async def test_another_shops_products_are_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await make_merchant(app, "B 的店")
    theirs = await make_product(app, owner.shop, "别人的商品", specs=SPECS)
    async with app.state.db.transaction() as session:
        group = await groups.create_group(session, owner.shop, "别人的分组")
    merchant = await make_merchant(app)
    await make_product(app, merchant.shop, "我的商品")
    csrf = await logged_in(client, app, merchant)
    listed = await client.get("/console/products")
    assert "我的商品" in listed.text
    assert "别人的商品" not in listed.text
    assert "别人的分组" not in (await client.get("/console/groups")).text

    before = await row_counts(app)
    sku = theirs.sku("红", "S").public_id
    attempts = [
        ("get", f"/console/products/{theirs.id}", {}),
        ("post", f"/console/products/{theirs.id}", product_form(csrf)),
        ("post", f"/console/products/{theirs.id}", product_form(csrf, action="matrix")),
        ("post", f"/console/products/{theirs.id}/status", {"status": "off_shelf"}),
        ("post", f"/console/products/{theirs.id}/status", {"status": "on_sale"}),
        (
            "post",
            f"/console/products/{theirs.id}/stock",
            {"sku": sku, "delta": "5", "reason": "restock"},
        ),
        ("post", f"/console/products/{theirs.id}/images/x/remove", {}),
        ("post", f"/console/products/{theirs.id}/images/x/cover", {}),
        ("post", f"/console/groups/{group.public_id}/delete", {}),
    ]
    for method, url, data in attempts:
        if method == "get":
            response = await client.get(url)
        else:
            response = await client.post(url, data={"csrf_token": csrf} | data)
        assert response.status_code == 404, (url, response.status_code)
    upload = await client.post(
        f"/console/products/{theirs.id}/images",
        data={"csrf_token": csrf},
        files=[("images", ("a.png", image_bytes(), "image/png"))],
    )
    assert upload.status_code == 404
    renamed = await client.post(
        f"/console/groups/{group.public_id}", data={"csrf_token": csrf, "name": "改"}
    )
    assert renamed.status_code == 404
    assert await row_counts(app) == before
    async with app.state.db.transaction(write=False) as session:
        assert await session.scalar(select(ProductGroup.name)) == "别人的分组"
        assert not list(await session.scalars(select(StockAdjustment)))


async def test_products_list_queries_do_not_grow(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    await logged_in(client, app, merchant)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    async def queries_for_list() -> int:
        statements.clear()
        event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            page = await client.get("/console/products")
        finally:
            event.remove(app.state.db.engine.sync_engine, "before_cursor_execute", count)
        assert page.status_code == 200
        return len(statements)

    for _index in range(2):
        await make_product(app, merchant.shop, specs=SPECS)
    with_two = await queries_for_list()
    for _index in range(10):
        await make_product(app, merchant.shop, specs=SPECS)
    assert await queries_for_list() == with_two


def photo_files(*photos: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (f"{n}.png", photo, "image/png")) for n, photo in enumerate(photos)]


async def test_new_product_with_photos_in_one_submit(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    merchant = await make_merchant(app)
    csrf = await logged_in(client, app, merchant)
    form = await client.get("/console/products/new")
    assert 'action="/console/products" enctype="multipart/form-data"' in form.text
    assert 'type="file" name="images"' in form.text.split('id="product-form"')[1]
    saved = await client.post(
        "/console/products",
        data=product_form(csrf, specs={}, action="publish"),
        files=photo_files(image_bytes(), image_bytes("PNG", (80, 40))),
    )
    assert saved.headers["location"].endswith("?done=published"), saved.text
    product = await product_row(app, created_id(saved))
    assert product.status == ProductStatus.on_sale
    async with app.state.db.transaction(write=False) as session:
        images = list(await session.scalars(select(ProductImage).order_by(ProductImage.position)))
    assert [(image.product_id, image.width) for image in images] == [
        (product.id, 64),
        (product.id, 80),
    ]
    assert product.cover_key == images[0].thumb_key
    assert len(media_files(settings)) == 4  # each photo and its thumbnail

    # A draft needs no photo; the file field sent empty (no file chosen) is no photo.
    saved = await client.post(
        "/console/products",
        data=product_form(csrf, specs={}),
        files=[("images", ("", b"", "application/octet-stream"))],
    )
    assert (await product_row(app, created_id(saved))).status == ProductStatus.draft


@pytest.mark.parametrize(
    ("photos", "action", "code"),
    [
        ([b"not an image"], "save", "invalid_image"),
        ([image_bytes(), b""], "publish", "invalid_image"),
        ([image_bytes()] * 10, "save", "too_many_images"),
        ([], "publish", "photo_required"),
    ],
)
async def test_a_refused_new_product_creates_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    photos: list[bytes],
    action: str,
    code: str,
) -> None:
    """A bad photo (or none, to publish) refuses the whole form: no product, no file kept;
    the message next to the photo field, everything typed still there."""
    merchant = await make_merchant(app)
    csrf = await logged_in(client, app, merchant)
    before = await row_counts(app)
    refused = await client.post(
        "/console/products",
        data=product_form(csrf, title="留着的标题", specs={}, action=action),
        files=photo_files(*photos) or None,
    )
    assert refused.status_code in (409, 422), refused.text
    assert_photo_error(refused, code)
    assert 'value="留着的标题"' in refused.text
    assert await row_counts(app) == before
    assert media_files(settings) == []


async def test_publishing_from_the_editor_needs_a_photo(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, status=ProductStatus.draft)
    csrf = await logged_in(client, app, merchant)
    refused = await client.post(
        f"/console/products/{made.id}",
        data=product_form(csrf, title="新标题", specs={}, action="publish"),
    )
    assert refused.status_code == 409
    assert_photo_error(refused, "photo_required")
    assert 'value="新标题"' in refused.text
    product = await product_row(app, made.id)
    assert (product.title, product.status) == ("手工皮钱包", ProductStatus.draft)

"""Cart, checkout and the buyer's orders through the HTML pages, as a phone without
JavaScript uses them: forms with CSRF tokens, cookies, redirects."""

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock
from pocketshop.accounts import service as accounts
from pocketshop.accounts.deps import SESSION_COOKIE, cookie_signer
from pocketshop.accounts.models import User
from pocketshop.accounts.service import SessionKind
from pocketshop.catalog import adjustments
from pocketshop.catalog.adjustments import AdjustmentReason
from pocketshop.db import Database
from pocketshop.orders import addresses, shipping, shipping_fees
from pocketshop.orders.models import CartItem, Order
from pocketshop.orders.shipping_fees import RuleKind
from pocketshop.shops.models import Shop
from pocketshop.web.guest_cart import CART_COOKIE
from tests.commerce import (
    ADDRESS,
    MadeProduct,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    ordered,
    pay,
    row_counts,
)
from tests.support import csrf_for, csrf_from, last_code, other_client, page_alert, page_login, tr


async def log_in(app: FastAPI, client: httpx.AsyncClient, user: User) -> None:
    """A web session cookie for a buyer made by the builders (no SMS round trip)."""
    settings = app.state.settings
    db: Database = app.state.db
    async with db.transaction() as session:
        token, _auth = await accounts.start_session(session, settings, user, SessionKind.web)
    client.cookies.set(SESSION_COOKIE, cookie_signer(settings).sign(token).decode())


async def add(
    client: httpx.AsyncClient,
    shop: Shop,
    made: MadeProduct,
    *spec: str,
    quantity: object = 1,
    buy_now: bool = False,
) -> httpx.Response:
    token = await csrf_for(client, f"/s/{shop.slug}/p/{made.id}")
    data = {"product": made.id, "quantity": str(quantity), "csrf_token": token}
    data |= {f"spec{index}": value for index, value in enumerate(spec)}
    if buy_now:
        data["buy_now"] = "1"
    return await client.post(f"/s/{shop.slug}/cart/add", data=data)


async def cart_items(app: FastAPI, user: User) -> dict[int, int]:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(CartItem.sku_id, CartItem.quantity).where(CartItem.user_id == user.id)
        )
        return {sku_id: quantity for sku_id, quantity in rows}


async def orders_of(app: FastAPI, user: User) -> list[Order]:
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        return list(await session.scalars(select(Order).where(Order.buyer_id == user.id)))


def checkout_form(html: str, **fields: str) -> dict[str, object]:
    """What the checkout page's form would send: its hidden fields, plus `fields`."""
    form = html.split('id="checkout"', 1)[1].split("</form>", 1)[0]
    data: dict[str, object] = {
        "csrf_token": csrf_from(html),
        "idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1),  # type: ignore[union-attr]
        "sku": re.findall(r'name="sku" value="([0-9a-f]+)"', form),
        "item": re.search(r'name="item" value="([^"]*)"', form).group(1),  # type: ignore[union-attr]
    }
    return data | fields


async def setup_shop(app: FastAPI) -> tuple[Shop, MadeProduct]:
    merchant = await make_merchant(app)
    db: Database = app.state.db
    async with db.transaction() as session:
        await shipping_fees.set_rule(
            session, merchant.shop, kind=RuleKind.free_above, fee=800, free_above=50_000
        )
    made = await make_product(
        app,
        merchant.shop,
        specs={"颜色": ["红", "蓝"], "尺码": ["S", "M"]},
        prices={("红", "S"): 9900, ("红", "M"): 10900, ("蓝", "S"): 9900, ("蓝", "M"): 12900},
        stock=5,
    )
    return merchant.shop, made


# --- cart --------------------------------------------------------------------------------------


async def test_sku_picker_posts_to_a_guest_cart(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    added = await add(client, shop, made, "蓝", "M", quantity=2)
    assert added.status_code == 303, added.text
    assert added.headers["location"] == f"/s/{shop.slug}/cart"
    assert CART_COOKIE in client.cookies
    set_cookie = added.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie

    cart = await client.get(f"/s/{shop.slug}/cart")
    assert cart.status_code == 200
    assert "蓝 / M" in cart.text
    assert "¥258.00" in cart.text  # 2 × 129.00
    assert "¥8.00" in cart.text  # shipping below the threshold
    assert "¥266.00" in cart.text
    assert f'href="/s/{shop.slug}/checkout"' in cart.text

    # Again: quantities add up. Then the stepper and the remove button.
    await add(client, shop, made, "蓝", "M", quantity=1)
    cart = await client.get(f"/s/{shop.slug}/cart")
    assert 'class="stepper-count" aria-label="' in cart.text
    assert ">3</span>" in cart.text
    sku = made.sku("蓝", "M").public_id
    token = csrf_from(cart.text)
    less = await client.post(
        f"/s/{shop.slug}/cart/update", data={"sku": sku, "quantity": "2", "csrf_token": token}
    )
    assert less.status_code == 303
    assert "¥258.00" in (await client.get(f"/s/{shop.slug}/cart")).text
    gone = await client.post(f"/s/{shop.slug}/cart/remove", data={"sku": sku, "csrf_token": token})
    assert gone.status_code == 303
    assert tr("Your cart is empty.") in (await client.get(f"/s/{shop.slug}/cart")).text


async def test_a_tampered_cart_cookie_is_ignored(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    await add(client, shop, made, "红", "S")
    value = client.cookies[CART_COOKIE]
    client.cookies.set(CART_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    cart = await client.get(f"/s/{shop.slug}/cart")
    assert cart.status_code == 200
    assert tr("Your cart is empty.") in cart.text


async def test_picker_refusals_change_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    db: Database = app.state.db
    async with db.transaction() as session:
        await adjustments.adjust_stock(
            session, shop, made.sku("红", "M").public_id, delta=-5, reason=AdjustmentReason.other
        )
    # (chosen, quantity, the refusal, what the page says is wrong: a size this product does
    # not sell is not kept, so the page asks for a size)
    cases = [
        (("红",), 1, "spec_required", "spec_required"),
        (("红", "M"), 1, "sold_out", "sold_out"),
        (("红", "XL"), 1, "sku_not_found", "spec_required"),
        (("红", "S"), 6, "not_enough_stock", "not_enough_stock"),
        (("红", "S"), 0, "invalid_quantity", "invalid_quantity"),
        (("红", "S"), "1.5", "invalid_quantity", "invalid_quantity"),
        (("红", "S"), 1000, "invalid_quantity", "invalid_quantity"),
    ]
    for spec, quantity, code, shown in cases:
        refused = await add(client, shop, made, *spec, quantity=quantity)
        # Back to the product page (a GET: a refresh posts nothing again), at its buy form.
        assert refused.status_code == 303, (spec, quantity, refused.text)
        location = refused.headers["location"]
        assert location.startswith(f"/s/{shop.slug}/p/{made.id}?error={code}&")
        assert location.endswith("#buy")
        page = await client.get(location)
        assert page.status_code == 200
        assert page_alert(page.text)[0] == shown
        # The product page again, with what the buyer chose still chosen.
        assert f'name="spec0" value="{spec[0]}" checked' in page.text
        assert CART_COOKIE not in client.cookies
    sold_out = await add(client, shop, made, "红", "M")
    page = await client.get(sold_out.headers["location"])
    assert tr("Sold out: “%(spec)s”. Choose another.", spec="红 / M") in page.text


async def test_guest_cart_merges_at_checkout_login(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    await add(client, shop, made, "红", "S", quantity=2)
    buyer = await make_buyer(app, "+8613800138123")
    # The buyer had one of these in their cart already (from another phone).
    async with other_client(app) as phone:
        await log_in(app, phone, buyer.user)
        assert (await add(phone, shop, made, "红", "S")).status_code == 303

    checkout = await client.get(f"/s/{shop.slug}/checkout")
    assert checkout.status_code == 200
    assert f'action="/s/{shop.slug}/checkout/code"' in checkout.text
    sent = await client.post(
        f"/s/{shop.slug}/checkout/code",
        data={"phone": "138 0013 8123", "csrf_token": csrf_from(checkout.text)},
    )
    assert sent.status_code == 200, sent.text
    assert 'name="code"' in sent.text
    wrong = await client.post(
        f"/s/{shop.slug}/checkout/login",
        data={"phone": "+8613800138123", "code": "000000", "csrf_token": csrf_from(sent.text)},
    )
    assert wrong.status_code in (401, 422), wrong.text
    assert 'name="code"' in wrong.text  # still asking for the code, on the checkout page
    logged = await client.post(
        f"/s/{shop.slug}/checkout/login",
        data={
            "phone": "+8613800138123",
            "code": last_code(app, "+8613800138123"),
            "csrf_token": csrf_from(sent.text),
        },
    )
    assert logged.status_code == 303, logged.text
    assert logged.headers["location"] == f"/s/{shop.slug}/checkout"
    assert CART_COOKIE not in client.cookies  # merged and cleared
    assert await cart_items(app, buyer.user) == {made.sku("红", "S").id: 3}
    page = await client.get(f"/s/{shop.slug}/checkout")
    assert 'name="recipient"' in page.text
    assert "¥297.00" in page.text


async def test_guest_cart_merges_at_the_login_page(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    await add(client, shop, made, "蓝", "S")
    buyer = await make_buyer(app)
    done = await page_login(client, app, buyer.user.phone, f"/s/{shop.slug}/cart")
    assert done.status_code == 303, done.text
    cart = await client.get(f"/s/{shop.slug}/cart")
    assert "蓝 / S" in cart.text
    assert CART_COOKIE not in client.cookies
    assert await cart_items(app, buyer.user) == {made.sku("蓝", "S").id: 1}


# --- checkout ----------------------------------------------------------------------------------


async def test_checkout_places_an_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    await add(client, shop, made, "红", "S", quantity=2)
    await add(client, shop, made, "蓝", "M")
    page = await client.get(f"/s/{shop.slug}/checkout")
    assert "¥327.00" in page.text
    assert "¥8.00" in page.text
    assert "¥335.00" in page.text
    placed = await client.post(
        f"/s/{shop.slug}/checkout",
        data=checkout_form(page.text, address="new", note="请尽快发货", **ADDRESS),
    )
    assert placed.status_code == 303, placed.text
    number = placed.headers["location"].removeprefix("/me/orders/")
    order = await order_row(app, number)
    assert order.status == "pending_payment"
    assert (order.items_total, order.shipping_fee, order.total) == (32700, 800, 33500)
    assert order.note == "请尽快发货"
    assert await cart_items(app, buyer.user) == {}
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        book = await addresses.list_for(session, buyer.user)
    assert [a.recipient for a in book] == [ADDRESS["recipient"]]

    detail = await client.get(placed.headers["location"])
    assert detail.status_code == 200
    assert tr("Awaiting payment") in detail.text
    assert "¥335.00" in detail.text
    assert "红 / S" in detail.text
    assert ADDRESS["detail"] in detail.text
    assert f'action="/me/orders/{number}/cancel"' in detail.text

    # Next time the saved address is offered, and used by its id.
    await add(client, shop, made, "蓝", "S", quantity=6 - 1)
    again = await client.get(f"/s/{shop.slug}/checkout")
    assert f'value="{book[0].public_id}" checked' in again.text
    second = await client.post(
        f"/s/{shop.slug}/checkout", data=checkout_form(again.text, address=book[0].public_id)
    )
    assert second.status_code == 303, second.text
    assert len(await orders_of(app, buyer.user)) == 2
    async with db.transaction(write=False) as session:
        assert len(await addresses.list_for(session, buyer.user)) == 1
    # ¥495 is under the ¥500 threshold: shipping is charged.
    latest = await order_row(app, second.headers["location"].removeprefix("/me/orders/"))
    assert (latest.items_total, latest.shipping_fee) == (49500, 800)


async def test_buy_now_checks_out_only_that_item(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    await add(client, shop, made, "红", "S")
    now = await add(client, shop, made, "蓝", "M", buy_now=True)
    sku = made.sku("蓝", "M").public_id
    assert now.headers["location"] == f"/s/{shop.slug}/checkout?item={sku}"
    page = await client.get(now.headers["location"])
    assert "蓝 / M" in page.text
    assert "红 / S" not in page.text
    placed = await client.post(
        f"/s/{shop.slug}/checkout", data=checkout_form(page.text, address="new", **ADDRESS)
    )
    assert placed.status_code == 303, placed.text
    order = await order_row(app, placed.headers["location"].removeprefix("/me/orders/"))
    assert order.items_total == 12900
    assert await cart_items(app, buyer.user) == {made.sku("红", "S").id: 1}


async def test_double_submit_makes_one_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    await add(client, shop, made, "红", "S")
    page = await client.get(f"/s/{shop.slug}/checkout")
    form = checkout_form(page.text, address="new", **ADDRESS)
    first = await client.post(f"/s/{shop.slug}/checkout", data=form)
    second = await client.post(f"/s/{shop.slug}/checkout", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(await orders_of(app, buyer.user)) == 1
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        assert len(await addresses.list_for(session, buyer.user)) == 1


async def test_sold_out_at_checkout_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, made = await setup_shop(app)
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    await add(client, shop, made, "红", "S", quantity=2)
    await add(client, shop, made, "蓝", "M", quantity=5)
    page = await client.get(f"/s/{shop.slug}/checkout")
    # Meanwhile someone else buys the last blue M ones.
    rival = await make_buyer(app)
    await ordered(client, rival, shop, [(made.sku("蓝", "M"), 1)])
    before = await row_counts(app)
    refused = await client.post(
        f"/s/{shop.slug}/checkout", data=checkout_form(page.text, address="new", **ADDRESS)
    )
    assert refused.status_code == 409, refused.text
    code, message = page_alert(refused.text)
    assert code == "sold_out"
    assert message == tr("Sold out: “%(title)s” does not have enough left.", title="手工皮钱包")
    assert f'value="{ADDRESS["detail"]}"' in refused.text  # what was typed stays
    assert await row_counts(app) == before


async def test_missing_address_field_places_no_order(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    shop, made = await setup_shop(app)
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    await add(client, shop, made, "红", "S")
    page = await client.get(f"/s/{shop.slug}/checkout")
    before = await row_counts(app)
    for field in ("recipient", "phone", "province", "city", "district", "detail"):
        typed = ADDRESS | {field: ""}
        refused = await client.post(
            f"/s/{shop.slug}/checkout",
            data=checkout_form(page.text, address="new", note="留言", **typed),
        )
        assert refused.status_code == 422, refused.text
        code, _message = page_alert(refused.text)
        assert code == "invalid_address"
        if field in ("province", "city", "district"):  # the region picker's select
            assert re.search(f'name="{field}_code"[^>]*aria-invalid="true"', refused.text)
        else:
            assert f'name="{field}" value="" maxlength' in refused.text
        assert 'aria-invalid="true"' in refused.text
        assert ">留言</textarea>" in refused.text
    assert await row_counts(app) == before


async def test_empty_cart_checkout(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, _made = await setup_shop(app)
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    page = await client.get(f"/s/{shop.slug}/checkout")
    assert tr("Your cart is empty.") in page.text
    token = csrf_from(page.text)
    refused = await client.post(
        f"/s/{shop.slug}/checkout",
        data={"csrf_token": token, "address": "new", "idempotency_key": "k1"} | ADDRESS,
    )
    assert refused.status_code == 422
    assert page_alert(refused.text)[0] == "cart_empty"
    assert await orders_of(app, buyer.user) == []


async def test_checkout_post_needs_login(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    await add(client, shop, made, "红", "S")
    page = await client.get(f"/s/{shop.slug}/checkout")
    refused = await client.post(
        f"/s/{shop.slug}/checkout",
        data={"csrf_token": csrf_from(page.text), "address": "new"} | ADDRESS,
    )
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/login?next=")


# --- the buyer's orders ------------------------------------------------------------------------


async def test_orders_are_private(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    x = await make_buyer(app)
    y = await make_buyer(app)
    number = await ordered(client, x, shop, [(made.sku("红", "S"), 1)])
    await log_in(app, client, y.user)
    assert (await client.get(f"/me/orders/{number}")).status_code == 404
    token = await csrf_for(client, "/me/orders")
    cancel = await client.post(f"/me/orders/{number}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 404
    confirm = await client.post(f"/me/orders/{number}/confirm", data={"csrf_token": token})
    assert confirm.status_code == 404
    listed = await client.get("/me/orders")
    assert number not in listed.text
    assert (await order_row(app, number)).status == "pending_payment"
    assert (await client.get("/me/orders/nope")).status_code == 404


async def test_cancel_and_confirm_receipt(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    buyer = await make_buyer(app)
    first = await ordered(client, buyer, shop, [(made.sku("红", "S"), 1)])
    second = await ordered(client, buyer, shop, [(made.sku("蓝", "S"), 2)])
    await log_in(app, client, buyer.user)

    token = await csrf_for(client, f"/me/orders/{first}")
    cancelled = await client.post(f"/me/orders/{first}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    page = await client.get(f"/me/orders/{first}")
    assert tr("Closed") in page.text
    assert tr("Cancelled by the buyer") in page.text
    assert "/cancel" not in page.text
    again = await client.post(f"/me/orders/{first}/cancel", data={"csrf_token": token})
    assert again.status_code == 409
    assert page_alert(again.text)[0] == "invalid_transition"

    await pay(app, second)
    db: Database = app.state.db
    async with db.transaction() as session:
        await shipping.ship(
            session,
            app.state.settings,
            shop,
            second,
            carrier="SF",
            tracking_number="SF1234567890123",
        )
    shipped = await client.get(f"/me/orders/{second}")
    assert tr("Shipped") in shipped.text
    assert tr("SF Express") in shipped.text
    assert "SF1234567890123" in shipped.text
    assert f'action="/me/orders/{second}/confirm"' in shipped.text
    done = await client.post(f"/me/orders/{second}/confirm", data={"csrf_token": token})
    assert done.status_code == 303
    page = await client.get(f"/me/orders/{second}")
    assert tr("Completed") in page.text
    # The timeline, newest first, in Shanghai time.
    labels = re.findall(r'<span class="timeline-label">([^<]+)</span>', page.text)
    assert labels == [
        tr("Completed"),
        tr("Shipped"),
        tr("Paid, awaiting shipment"),
        tr("Order placed"),
    ]
    order = await order_row(app, second)
    local = order.created_at + timedelta(hours=8)
    assert local.strftime("%Y-%m-%d %H:%M") in page.text


async def test_order_list(app: FastAPI, client: httpx.AsyncClient) -> None:
    shop, made = await setup_shop(app)
    buyer = await make_buyer(app)
    numbers = []
    for n in range(22):
        number = await ordered(client, buyer, shop, [(made.sku("红", "S"), 1)])
        numbers.append(number)
        if n < 21:  # a buyer holds only so many unpaid orders in a shop (and 5 in stock)
            cancelled = await client.post(f"/api/v1/orders/{number}/cancel", headers=buyer.auth)
            assert cancelled.status_code == 200, cancelled.text
        clock.advance(timedelta(minutes=1))
    await log_in(app, client, buyer.user)
    first = await client.get("/me/orders")
    assert first.status_code == 200
    shown = re.findall(r'href="/me/orders/(\d+)"', first.text)
    assert shown == list(reversed(numbers))[:20]
    assert 'rel="next" href="/me/orders?page=2"' in first.text
    second = await client.get("/me/orders?page=2")
    assert re.findall(r'href="/me/orders/(\d+)"', second.text) == list(reversed(numbers))[20:]
    assert "¥107.00" in first.text  # 99 + 8 shipping
    assert tr("Awaiting payment") in first.text


async def test_orders_need_login(client: httpx.AsyncClient) -> None:
    for path in ("/me/orders", "/me/orders/123"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


# --- the address book --------------------------------------------------------------------------


async def test_address_book(app: FastAPI, client: httpx.AsyncClient) -> None:
    buyer = await make_buyer(app)
    await log_in(app, client, buyer.user)
    token = await csrf_for(client, "/me/addresses")
    added = await client.post("/me/addresses", data=ADDRESS | {"csrf_token": token})
    assert added.status_code == 303
    second = ADDRESS | {"recipient": "韩梅梅", "detail": "南京路 1 号"}
    added = await client.post(
        "/me/addresses", data=second | {"csrf_token": token, "make_default": "1"}
    )
    assert added.status_code == 303
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        book = await addresses.list_for(session, buyer.user)
    assert [(a.recipient, a.is_default) for a in book] == [("韩梅梅", True), ("李雷", False)]
    page = await client.get("/me/addresses")
    assert "韩梅梅" in page.text
    assert "139 0013 9000" in page.text

    li_lei = book[1].public_id
    edit = await client.get(f"/me/addresses?edit={li_lei}")
    assert f'name="address_id" value="{li_lei}"' in edit.text
    assert 'value="文三路 90 号 3 单元 201"' in edit.text
    refused = await client.post(
        "/me/addresses",
        data=ADDRESS | {"csrf_token": token, "address_id": li_lei, "city": ""},
    )
    assert refused.status_code == 422
    assert page_alert(refused.text)[0] == "invalid_address"
    assert 'value="文三路 90 号 3 单元 201"' in refused.text
    saved = await client.post(
        "/me/addresses",
        data=ADDRESS | {"csrf_token": token, "address_id": li_lei, "detail": "文三路 100 号"},
    )
    assert saved.status_code == 303
    made_default = await client.post(f"/me/addresses/{li_lei}/default", data={"csrf_token": token})
    assert made_default.status_code == 303
    async with db.transaction(write=False) as session:
        book = await addresses.list_for(session, buyer.user)
    assert [(a.recipient, a.detail, a.is_default) for a in book] == [
        ("李雷", "文三路 100 号", True),
        ("韩梅梅", "南京路 1 号", False),
    ]

    # Another buyer can neither see nor touch them.
    async with other_client(app) as other:
        stranger = await make_buyer(app)
        await log_in(app, other, stranger.user)
        other_token = await csrf_for(other, "/me/addresses")
        assert "李雷" not in (await other.get(f"/me/addresses?edit={li_lei}")).text
        for path in (f"/me/addresses/{li_lei}/default", f"/me/addresses/{li_lei}/delete"):
            assert (await other.post(path, data={"csrf_token": other_token})).status_code == 404
        hijack = await other.post(
            "/me/addresses", data=ADDRESS | {"csrf_token": other_token, "address_id": li_lei}
        )
        assert hijack.status_code == 404

    deleted = await client.post(f"/me/addresses/{li_lei}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    async with db.transaction(write=False) as session:
        assert [a.recipient for a in await addresses.list_for(session, buyer.user)] == ["韩梅梅"]

"""The console's orders pages through the HTML forms: list, tabs and search, CSV and Excel
export, the live updates endpoint, the order detail with shipping (whole, partial, refused)
and cancel, shipping fees; another shop's orders out of reach."""

import csv
import io
import re

import httpx
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy import event

from pocketshop.orders.service import OrderStatus
from tests.catalog.test_console_products import SPECS, logged_in
from tests.commerce import (
    ADDRESS,
    MadeProduct,
    Merchant,
    events_to,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    ordered,
    pay,
    place_order,
    row_counts,
)
from tests.support import page_alert

VALID_SF = "SF1234567890123"


async def shop_with_product(
    app: FastAPI, name: str = "小明的店", stock: int = 20
) -> tuple[Merchant, MadeProduct]:
    merchant = await make_merchant(app, name)
    return merchant, await make_product(app, merchant.shop, specs=SPECS, stock=stock)


async def two_line_order(
    client: httpx.AsyncClient, app: FastAPI, merchant: Merchant, made: MadeProduct
) -> str:
    buyer = await make_buyer(app)
    return await ordered(
        client, buyer, merchant.shop, [(made.sku("红", "S"), 2), (made.sku("蓝", "M"), 3)]
    )


def line_fields(html: str) -> dict[str, str]:
    """The ship form's quantity fields: name -> value."""
    return dict(re.findall(r'name="(qty_[0-9a-f]{32})" value="(\d*)"', html))


async def test_list_tabs_and_search(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app)
    unpaid = await two_line_order(client, app, merchant, made)
    paid = await two_line_order(client, app, merchant, made)
    await pay(app, paid)
    buyer = await make_buyer(app)
    other = await place_order(
        client,
        buyer,
        merchant.shop,
        [(made.sku("蓝", "S"), 1)],
        address=ADDRESS | {"phone": "13812345678", "recipient": "韩梅梅"},
    )
    assert other.status_code == 201, other.text
    third = other.json()["number"]
    await logged_in(client, app, merchant)

    everything = await client.get("/console/orders")
    assert everything.status_code == 200
    for number in (unpaid, paid, third):
        assert number in everything.text
    assert "手工皮钱包 · 红 / S × 2" in everything.text
    assert "¥495.00" in everything.text  # 5 × ¥99
    to_ship = await client.get("/console/orders?status=to_ship")
    assert paid in to_ship.text
    assert unpaid not in to_ship.text
    waiting = await client.get("/console/orders?status=pending_payment")
    assert unpaid in waiting.text
    assert paid not in waiting.text
    # The nav's badge counts the one order waiting to be shipped.
    assert re.search(r'class="badge" data-to-ship\s+title="[^"]*">1<', everything.text)

    by_number = await client.get("/console/orders", params={"q": paid[-8:]})
    assert paid in by_number.text
    assert unpaid not in by_number.text
    by_phone = await client.get("/console/orders", params={"q": "138 1234 5678"})
    assert third in by_phone.text
    assert paid not in by_phone.text
    by_name = await client.get("/console/orders", params={"q": "韩梅梅"})
    assert third in by_name.text
    assert unpaid not in by_name.text


async def test_csv_export(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app)
    unpaid = await two_line_order(client, app, merchant, made)
    paid = await two_line_order(client, app, merchant, made)
    await pay(app, paid)
    await logged_in(client, app, merchant)
    listed = await client.get("/console/orders?status=to_ship")
    assert 'href="/console/orders.csv?status=to_ship&amp;q="' in listed.text
    assert 'href="/console/orders.xlsx?status=to_ship&amp;q="' in listed.text

    response = await client.get("/console/orders.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + 4  # header, then one row per line
    assert {row[0] for row in rows[1:]} == {unpaid, paid}
    to_ship = await client.get("/console/orders.csv?status=to_ship")
    rows = list(csv.reader(io.StringIO(to_ship.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [paid, paid]
    searched = await client.get("/console/orders.csv", params={"q": unpaid})
    assert unpaid in searched.text
    assert paid not in searched.text


async def test_ship_everything_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app)
    number = await two_line_order(client, app, merchant, made)
    await pay(app, number)
    await logged_in(client, app, merchant)
    detail = await client.get(f"/console/orders/{number}")
    assert detail.status_code == 200
    assert ADDRESS["detail"] in detail.text
    assert ADDRESS["phone"] in detail.text
    fields = line_fields(detail.text)
    assert sorted(fields.values()) == ["2", "3"]  # everything left, by default

    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', detail.text)
    assert csrf
    response = await client.post(
        f"/console/orders/{number}/ship",
        data={"csrf_token": csrf.group(1), "carrier": "SF", "tracking_number": VALID_SF} | fields,
    )
    assert response.status_code == 303, response.text
    assert (await order_row(app, number)).status == OrderStatus.shipped
    shown = await client.get(response.headers["location"])
    assert VALID_SF in shown.text
    assert f'action="/console/orders/{number}/ship"' not in shown.text
    assert await events_to(app, number) == ["pending_payment", "paid", "shipped"]


async def test_ship_in_two_packages_and_refusals(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app)
    number = await two_line_order(client, app, merchant, made)
    await pay(app, number)
    csrf = await logged_in(client, app, merchant)
    fields = line_fields((await client.get(f"/console/orders/{number}")).text)
    red, blue = sorted(fields, key=lambda name: fields[name])  # 2 red, 3 blue
    base = {"csrf_token": csrf, "carrier": "ZTO", "tracking_number": "773012345678901"}

    before = await row_counts(app)
    refusals = [
        ({"tracking_number": "SF123"}, "invalid_tracking_number"),
        ({"carrier": "SF", "tracking_number": "773012345678901"}, "invalid_tracking_number"),
        ({"carrier": ""}, "invalid_carrier"),
        ({red: "0", blue: "0"}, "nothing_to_ship"),
        ({red: "3", blue: "0"}, "invalid_quantity"),
        ({red: "abc", blue: "1"}, "invalid_number"),
        ({red: "-1", blue: "1"}, "invalid_quantity"),
    ]
    for change, code in refusals:
        data = base | {red: "2", blue: "3"} | change
        response = await client.post(f"/console/orders/{number}/ship", data=data)
        assert response.status_code == 422, (change, response.text)
        assert page_alert(response.text)[0] == code, change
        # What was typed stays in the form.
        assert f'value="{data["tracking_number"]}"' in response.text
        assert f'name="{red}" value="{data[red]}"' in response.text
    assert await row_counts(app) == before

    # First package: the red ones and one blue.
    first = await client.post(f"/console/orders/{number}/ship", data=base | {red: "2", blue: "1"})
    assert first.status_code == 303, first.text
    assert (await order_row(app, number)).status == OrderStatus.partially_shipped
    page = await client.get(f"/console/orders/{number}")
    assert line_fields(page.text) == {blue: "2"}  # only what is left
    # Second package: the rest, with another courier.
    second = await client.post(
        f"/console/orders/{number}/ship",
        data={
            "csrf_token": csrf,
            "carrier": "YTO",
            "tracking_number": "yt1234567890123",
            blue: "2",
        },
    )
    assert second.status_code == 303, second.text
    assert (await order_row(app, number)).status == OrderStatus.shipped
    page = await client.get(f"/console/orders/{number}")
    assert "YT1234567890123" in page.text
    assert "773012345678901" in page.text


async def test_unpaid_orders_cannot_ship_but_can_be_cancelled(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, made = await shop_with_product(app)
    number = await two_line_order(client, app, merchant, made)
    csrf = await logged_in(client, app, merchant)
    page = await client.get(f"/console/orders/{number}")
    assert f'action="/console/orders/{number}/ship"' not in page.text
    assert f'action="/console/orders/{number}/cancel"' in page.text
    before = await row_counts(app)
    refused = await client.post(
        f"/console/orders/{number}/ship",
        data={"csrf_token": csrf, "carrier": "SF", "tracking_number": VALID_SF, "qty_x": "1"},
    )
    assert refused.status_code in (404, 422)
    assert await row_counts(app) == before

    cancelled = await client.post(f"/console/orders/{number}/cancel", data={"csrf_token": csrf})
    assert cancelled.status_code == 303
    assert (await order_row(app, number)).status == OrderStatus.closed
    page = await client.get(cancelled.headers["location"])
    assert 'role="status"' in page.text
    again = await client.post(f"/console/orders/{number}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409


async def test_updates_endpoint_counts_new_orders(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app)
    first = await two_line_order(client, app, merchant, made)
    await logged_in(client, app, merchant)
    page = await client.get("/console/orders")
    assert f'data-after="{first}"' in page.text

    none_yet = await client.get("/console/orders/updates", params={"after": first})
    assert none_yet.status_code == 200
    assert none_yet.json()["count"] == 0
    second = await two_line_order(client, app, merchant, made)
    third = await two_line_order(client, app, merchant, made)
    await pay(app, third)
    news = (await client.get("/console/orders/updates", params={"after": first})).json()
    assert news["count"] == 2
    assert [order["number"] for order in news["orders"]] == [third, second]
    assert "2" in news["label"]
    assert news["to_ship"] == 1


async def test_shipping_fee_settings(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, _made = await shop_with_product(app)
    csrf = await logged_in(client, app, merchant)
    page = await client.get("/console/shipping")
    assert page.status_code == 200
    saved = await client.post(
        "/console/shipping",
        data={"csrf_token": csrf, "kind": "free_above", "fee": "8", "free_above": "99.5"},
    )
    assert saved.status_code == 303, saved.text
    page = await client.get(saved.headers["location"])
    assert 'value="8.00"' in page.text
    assert 'value="99.50"' in page.text
    assert "¥99.50" in page.text
    for data, code in (
        ({"kind": "flat", "fee": "abc"}, "invalid_amount"),
        ({"kind": "flat", "fee": "0"}, "invalid_fee"),
        ({"kind": "free_above", "fee": "8", "free_above": ""}, "invalid_threshold"),
        ({"kind": "cheap"}, "invalid_kind"),
    ):
        refused = await client.post("/console/shipping", data={"csrf_token": csrf} | data)
        assert refused.status_code == 422
        assert page_alert(refused.text)[0] == code
        assert f'value="{data.get("fee", "")}"' in refused.text
    page = await client.get("/console/shipping")
    assert 'value="99.50"' in page.text
    free = await client.post("/console/shipping", data={"csrf_token": csrf, "kind": "free"})
    assert free.status_code == 303


async def test_another_shops_orders_are_out_of_reach(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner, theirs = await shop_with_product(app, "B 的店")
    their_paid = await two_line_order(client, app, owner, theirs)
    await pay(app, their_paid)
    their_unpaid = await two_line_order(client, app, owner, theirs)
    merchant, made = await shop_with_product(app)
    mine = await two_line_order(client, app, merchant, made)
    csrf = await logged_in(client, app, merchant)

    listed = await client.get("/console/orders")
    assert mine in listed.text
    assert their_paid not in listed.text
    assert their_unpaid not in listed.text
    searched = await client.get("/console/orders", params={"q": their_paid})
    assert f'href="/console/orders/{their_paid}"' not in searched.text
    assert "order-card" not in searched.text
    exported = await client.get("/console/orders.csv", params={"q": their_paid})
    assert their_paid not in exported.text
    exported = await client.get("/console/orders.csv")
    assert their_paid not in exported.text
    assert mine in exported.text
    workbook = await client.get("/console/orders.xlsx")
    assert workbook.status_code == 200
    numbers = {row[0] for row in load_workbook(io.BytesIO(workbook.content)).active.values}
    assert mine in numbers
    assert their_paid not in numbers
    updates = (await client.get("/console/orders/updates", params={"after": "x"})).json()
    assert {order["number"] for order in updates["orders"]} == {mine}

    before = await row_counts(app)
    for number in (their_paid, their_unpaid):
        assert (await client.get(f"/console/orders/{number}")).status_code == 404
        shipped = await client.post(
            f"/console/orders/{number}/ship",
            data={"csrf_token": csrf, "carrier": "SF", "tracking_number": VALID_SF},
        )
        assert shipped.status_code == 404
        cancelled = await client.post(f"/console/orders/{number}/cancel", data={"csrf_token": csrf})
        assert cancelled.status_code == 404
    assert await row_counts(app) == before


async def test_orders_list_queries_do_not_grow(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app, stock=100)
    await logged_in(client, app, merchant)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    async def queries_for(url: str) -> int:
        statements.clear()
        event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            page = await client.get(url)
        finally:
            event.remove(app.state.db.engine.sync_engine, "before_cursor_execute", count)
        assert page.status_code == 200
        return len(statements)

    for _index in range(2):
        await two_line_order(client, app, merchant, made)
    with_two = await queries_for("/console/orders")
    for _index in range(10):
        await two_line_order(client, app, merchant, made)
    assert await queries_for("/console/orders") == with_two

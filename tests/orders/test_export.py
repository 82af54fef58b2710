"""Order exports as a spreadsheet: the Excel workbook (console and API) and the CSV share their
columns. In the workbook order numbers and phones are text, amounts are numbers in yuan, the
time is the shop's; text never runs as a formula; each line names the packages it is in and
its order what was refunded; another shop's orders never appear, buyers and visitors are
refused; the queries do not grow with the orders."""

import csv
import io
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell

from pocketshop.spreadsheets import XLSX_MEDIA_TYPE
from tests.catalog.test_console_products import logged_in
from tests.commerce import (
    ADDRESS,
    Merchant,
    make_buyer,
    make_merchant,
    make_product,
    order_row,
    ordered,
    pay,
    ship,
    web_login,
)
from tests.orders.test_console_orders import VALID_SF, shop_with_product, two_line_order
from tests.support import api_error, statements_run, tr

HEADER = [
    "Order number",
    "Placed at",
    "Status",
    "Product",
    "Spec",
    "Unit price",
    "Quantity",
    "Line total",
    "Shipping fee",
    "Order total",
    "Recipient",
    "Phone",
    "Address",
    "Note",
    "Courier",
    "Tracking number",
    "Refunded",
]
COLUMN = {title: index for index, title in enumerate(HEADER)}
HYPERLINK = '=HYPERLINK("http://evil.example/","点我")'
ZTO = "773012345678901"


def sheet_cells(body: bytes) -> list[list[Cell]]:
    book = load_workbook(io.BytesIO(body))
    sheet = book.active
    assert sheet is not None
    assert sheet.title == tr("Orders")
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width > 15  # an order number fits
    return [list(row) for row in sheet.iter_rows()]


def by_number(rows: list[list[Cell]]) -> dict[str, list[list[Cell]]]:
    found: dict[str, list[list[Cell]]] = {}
    for row in rows[1:]:
        found.setdefault(str(row[0].value), []).append(row)
    return found


def cell(row: list[Cell], title: str) -> Any:
    return row[COLUMN[title]].value


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def refund(client: httpx.AsyncClient, merchant: Merchant, number: str, fen: int) -> None:
    answer = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds",
        json={"amount": fen, "reason": "少发一个"},
        headers=merchant.auth,
    )
    assert answer.status_code == 201, answer.text


async def test_the_console_workbook(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app)
    unpaid = await two_line_order(client, app, merchant, made)
    shipped = await two_line_order(client, app, merchant, made)
    await pay(app, shipped)
    assert (await ship(client, merchant, shipped, VALID_SF)).status_code == 201
    refunded = await two_line_order(client, app, merchant, made)
    await pay(app, refunded)
    await refund(client, merchant, refunded, 1250)
    await logged_in(client, app, merchant)
    listed = await client.get("/console/orders?status=to_ship")
    assert 'href="/console/orders.xlsx?status=to_ship&amp;q="' in listed.text

    response = await client.get("/console/orders.xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{merchant.shop.slug}-orders.xlsx"'
    )
    rows = sheet_cells(response.content)
    assert [one.value for one in rows[0]] == [tr(title) for title in HEADER]
    assert all(one.font.b for one in rows[0])
    orders = by_number(rows)
    assert set(orders) == {unpaid, shipped, refunded}
    assert all(len(lines) == 2 for lines in orders.values())

    first = orders[unpaid][0]
    number = first[COLUMN["Order number"]]
    assert (number.value, number.data_type, number.number_format) == (unpaid, "s", "@")
    order = await order_row(app, unpaid)
    phone = first[COLUMN["Phone"]]
    assert (phone.value, phone.data_type) == (order.phone, "s")
    assert phone.value.startswith("+86")  # "+86139…" would be a number, or a formula in CSV
    placed = first[COLUMN["Placed at"]]
    assert placed.is_date
    assert placed.value == order.created_at.astimezone(ZoneInfo(merchant.shop.timezone)).replace(
        tzinfo=None, microsecond=0
    )
    for title in ("Unit price", "Line total", "Shipping fee", "Order total", "Refunded"):
        amount = first[COLUMN[title]]
        assert amount.data_type == "n", title
        assert isinstance(amount.value, int | float), title
        assert amount.number_format == "0.00", title
    assert Decimal(str(cell(first, "Order total"))) == Decimal(order.total) / 100
    assert cell(first, "Refunded") == 0
    assert cell(first, "Quantity") in (2, 3)
    assert cell(first, "Courier") is None  # not shipped: empty
    assert cell(first, "Recipient") == ADDRESS["recipient"]

    for line in orders[shipped]:
        assert cell(line, "Courier") == tr("SF Express")
        assert cell(line, "Tracking number") == VALID_SF
        assert cell(line, "Status") == tr("Shipped")
    for line in orders[refunded]:
        assert cell(line, "Refunded") == 12.5
        assert line[COLUMN["Refunded"]].data_type == "n"

    to_ship = sheet_cells((await client.get("/console/orders.xlsx?status=to_ship")).content)
    assert set(by_number(to_ship)) == {refunded}
    searched = sheet_cells((await client.get("/console/orders.xlsx", params={"q": unpaid})).content)
    assert set(by_number(searched)) == {unpaid}


async def test_text_never_runs_as_a_formula(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, HYPERLINK)
    buyer = await make_buyer(app)
    number = await ordered(client, buyer, merchant.shop, [(made.skus[0], 1)])

    workbook = await client.get("/api/v1/me/shop/orders.xlsx", headers=merchant.auth)
    assert workbook.status_code == 200, workbook.text
    title = by_number(sheet_cells(workbook.content))[number][0][COLUMN["Product"]]
    assert (title.value, title.data_type) == (HYPERLINK, "s")
    assert b"<f>" not in workbook.content  # no formula anywhere (the parts are zipped)
    rows = csv_rows((await client.get("/api/v1/me/shop/orders.csv", headers=merchant.auth)).content)
    assert rows[1][COLUMN["Product"]] == "'" + HYPERLINK


async def test_split_packages_and_the_csv_columns(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app)
    number = await two_line_order(client, app, merchant, made)
    await pay(app, number)
    lines = (await client.get(f"/api/v1/me/shop/orders/{number}", headers=merchant.auth)).json()
    red, blue = lines["lines"]
    shipped = await ship(client, merchant, number, VALID_SF, lines={red["id"]: red["quantity"]})
    assert shipped.status_code == 201, shipped.text
    rest = await ship(client, merchant, number, ZTO, carrier="ZTO")
    assert rest.status_code == 201, rest.text
    await refund(client, merchant, number, 100)
    await refund(client, merchant, number, 205)

    exported = await client.get("/api/v1/me/shop/orders.csv", headers=merchant.auth)
    rows = csv_rows(exported.content)
    assert rows[0] == [tr(title) for title in HEADER]
    packages = {row[COLUMN["Spec"]]: row for row in rows[1:]}
    assert set(packages) == {red["spec"], blue["spec"]}
    red_row, blue_row = packages[red["spec"]], packages[blue["spec"]]
    assert (red_row[COLUMN["Courier"]], red_row[COLUMN["Tracking number"]]) == (
        tr("SF Express"),
        VALID_SF,
    )
    assert (blue_row[COLUMN["Courier"]], blue_row[COLUMN["Tracking number"]]) == (
        tr("ZTO Express"),
        ZTO,
    )
    assert {row[COLUMN["Refunded"]] for row in rows[1:]} == {"3.05"}
    assert rows[1][COLUMN["Placed at"]].count(":") == 1  # 2025-01-31 09:30

    workbook = by_number(
        sheet_cells(
            (await client.get("/api/v1/me/shop/orders.xlsx", headers=merchant.auth)).content
        )
    )
    by_spec = {cell(row, "Spec"): row for row in workbook[number]}
    assert cell(by_spec[blue["spec"]], "Tracking number") == ZTO
    assert cell(by_spec[red["spec"]], "Refunded") == 3.05


async def test_the_api_workbook_filters_and_tenancy(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a, a_made = await shop_with_product(app, "A 的店")
    b, b_made = await shop_with_product(app, "B 的店")
    a_unpaid = await two_line_order(client, app, a, a_made)
    a_paid = await two_line_order(client, app, a, a_made)
    await pay(app, a_paid)
    b_paid = await two_line_order(client, app, b, b_made)
    await pay(app, b_paid)

    paid = await client.get("/api/v1/me/shop/orders.xlsx?status=paid", headers=a.auth)
    assert paid.status_code == 200, paid.text
    assert paid.headers["content-type"] == XLSX_MEDIA_TYPE
    assert (
        paid.headers["content-disposition"] == f'attachment; filename="{a.shop.slug}-orders.xlsx"'
    )
    assert set(by_number(sheet_cells(paid.content))) == {a_paid}
    everything = await client.get("/api/v1/me/shop/orders.xlsx", headers=a.auth)
    assert set(by_number(sheet_cells(everything.content))) == {a_paid, a_unpaid}
    theirs = await client.get("/api/v1/me/shop/orders.xlsx", params={"q": b_paid}, headers=a.auth)
    assert sheet_cells(theirs.content)[1:] == []
    nul = await client.get("/api/v1/me/shop/orders.xlsx?q=a%00b", headers=a.auth)
    assert nul.status_code == 200, nul.text
    refused = await client.get("/api/v1/me/shop/orders.xlsx?status=nope", headers=a.auth)
    assert refused.status_code == 422
    b_sheet = await client.get("/api/v1/me/shop/orders.xlsx", headers=b.auth)
    assert set(by_number(sheet_cells(b_sheet.content))) == {b_paid}

    buyer = await make_buyer(app)
    api_error(
        await client.get("/api/v1/me/shop/orders.xlsx", headers=buyer.auth), 403, "not_a_merchant"
    )
    api_error(await client.get("/api/v1/me/shop/orders.xlsx"), 401, "not_authenticated")


async def test_visitors_and_buyers_get_no_console_workbook(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, made = await shop_with_product(app)
    await two_line_order(client, app, merchant, made)
    visitor = await client.get("/console/orders.xlsx")
    assert visitor.status_code == 303
    assert visitor.headers["location"].startswith("/login")
    buyer = await make_buyer(app)
    await web_login(app, client, buyer.user)
    as_buyer = await client.get("/console/orders.xlsx")
    assert (as_buyer.status_code, as_buyer.headers.get("location")) == (303, "/onboarding")


async def test_the_export_queries_do_not_grow(app: FastAPI, client: httpx.AsyncClient) -> None:
    merchant, made = await shop_with_product(app, stock=100)

    async def statements(url: str) -> int:
        with statements_run(app.state.db) as seen:
            response = await client.get(url, headers=merchant.auth)
        assert response.status_code == 200, response.text
        return len(seen)

    number = await two_line_order(client, app, merchant, made)
    await pay(app, number)
    await ship(client, merchant, number, VALID_SF)
    urls = ("/api/v1/me/shop/orders.xlsx", "/api/v1/me/shop/orders.csv")
    one = {url: await statements(url) for url in urls}
    for _ in range(3):
        more = await two_line_order(client, app, merchant, made)
        await pay(app, more)
        await ship(client, merchant, more, VALID_SF)
        await refund(client, merchant, more, 100)
    assert {url: await statements(url) for url in one} == one


def test_the_api_documents_the_workbook(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/api/v1/me/shop/orders.xlsx"]["get"]
    assert list(operation["responses"]["200"]["content"]) == [XLSX_MEDIA_TYPE]
    assert {one["name"] for one in operation["parameters"]} == {"status", "q"}

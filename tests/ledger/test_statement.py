"""The shop's statement in business events: a sale, the platform's fee by name, settlement,
a refund after settlement (with the fee it hands back), a withdrawal, each with the shop's own
money after it; pages continue each other's balances; another shop sees none of it."""

import httpx
from fastapi import FastAPI

from pocketshop.db import Database
from pocketshop.i18n import using
from pocketshop.ledger import statement
from pocketshop.ledger.statement import Entry
from pocketshop.payments.console_pages import statement_lines
from tests.commerce import make_merchant, one_sku_and_buyer
from tests.payments.money import balances, received, settled, withdraw
from tests.support import page_login, tr

PRICE = 9900
FEE = PRICE * 60 // 10_000  # 59
REFUND = 990
FEE_BACK = FEE * REFUND // PRICE  # 5


async def entries_of(db: Database, shop_id: int, **paging: int) -> tuple[list[Entry], bool]:
    async with db.transaction(write=False) as session:
        return await statement.shop_entries(session, shop_id, **paging)


async def test_each_business_event_with_the_balance_after_it(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    number = await received(app, client, merchant, buyer, sku, 1)
    await settled(app)
    refunded = await client.post(
        f"/api/v1/me/shop/orders/{number}/refunds", json={"amount": REFUND}, headers=merchant.auth
    )
    assert refunded.status_code == 201, refunded.text
    assert (await withdraw(client, merchant, 5000)).status_code == 201
    await app.state.dispatch_outbox()

    entries, has_next = await entries_of(db, merchant.shop.id)
    assert not has_next
    oldest_first = [(entry.kind, entry.change.amount, entry.fee.amount) for entry in entries[::-1]]
    assert oldest_first == [
        ("capture", PRICE, 0),
        ("release", -FEE, FEE),
        ("settle", 0, 0),
        ("refund", -(REFUND - FEE_BACK), -FEE_BACK),
        ("refund_sent", 0, 0),
        ("withdraw", -5000, 0),
        ("payout", 0, 0),
    ]
    after = [entry.balance_after.amount for entry in entries[::-1]]
    net = PRICE - FEE
    assert (
        after
        == [PRICE, net, net, net - REFUND + FEE_BACK]
        + [net - REFUND + FEE_BACK]
        + [net - REFUND + FEE_BACK - 5000] * 2
    )
    held = await balances(client, merchant)
    assert after[-1] == held["escrow"] + held["pending"] + held["available"] - held["owed"]
    moved = {entry.kind: entry.moved.amount for entry in entries}
    assert moved["settle"] == net
    assert moved["payout"] == 5000
    assert moved["release"] == PRICE

    with using("en"):
        lines = [line for entry in entries for line in statement_lines(entry)][::-1]
    said = [
        (line["what"], line["change"].amount if line["change"] else None, line["balance"].amount)
        for line in lines
    ]
    assert said == [
        ("Sale", PRICE, PRICE),
        ("Order completed", None, PRICE),
        ("Platform service fee", -FEE, net),
        ("Settled", None, net),
        ("Refund to the buyer", -REFUND, net - REFUND),
        ("Platform service fee returned", FEE_BACK, net - REFUND + FEE_BACK),
        ("Refund reached the buyer", None, net - REFUND + FEE_BACK),
        ("Withdrawal to your bank card", -5000, net - REFUND + FEE_BACK - 5000),
        ("Withdrawal arrived", None, net - REFUND + FEE_BACK - 5000),
    ]

    # Pages: the older page's balances continue where the newer one's end.
    newer, more = await entries_of(db, merchant.shop.id, per_page=3)
    older, _more = await entries_of(db, merchant.shop.id, per_page=3, page=2)
    assert more
    assert [entry.balance_after for entry in newer + older] == [
        entry.balance_after for entry in entries[:6]
    ]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await page_login(browser, app, merchant.user.phone, next_url="/console/finance")
        page = (await browser.get("/console/finance")).text
    assert tr("Platform service fee") in page
    assert tr("Balance %(amount)s", amount=f"¥{(net - REFUND + FEE_BACK - 5000) / 100:.2f}") in page

    # The same events through the API, for the shop's own developers.
    answer = await client.get("/api/v1/me/shop/finance/statement", headers=merchant.auth)
    assert answer.status_code == 200, answer.text
    assert [
        (item["kind"], item["order"], item["change"], item["fee"], item["balance_after"])
        for item in answer.json()["items"]
    ] == [
        (
            entry.kind,
            number if entry.order_id else None,
            entry.change.amount,
            entry.fee.amount,
            entry.balance_after.amount,
        )
        for entry in entries
    ]

    other = await make_merchant(app, "别人的店")
    assert await entries_of(db, other.shop.id) == ([], False)
    theirs = await client.get("/api/v1/me/shop/finance/statement", headers=other.auth)
    assert theirs.json()["items"] == []
    as_buyer = await client.get("/api/v1/me/shop/finance/statement", headers=buyer.auth)
    assert as_buyer.status_code == 403

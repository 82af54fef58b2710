"""What the buyer's pages offer to apply for is what the service takes: the order page's link
and the form's choices against `service.apply`, in the situations that change the answer
(before shipment, shipped, after the window, five applications made)."""

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI

from pocketshop import clock
from pocketshop.aftersales import service
from pocketshop.aftersales.states import Kind, Reason
from pocketshop.db import Database
from pocketshop.errors import Conflict
from tests.aftersales.cases import applied, as_buyer, done, line_ids, paid, shipped
from tests.commerce import Buyer, one_sku_and_buyer, web_login
from tests.payments.money import received
from tests.support import page_alert

ALL = {kind.value for kind in Kind}


class Undo(Exception):
    """Rolls back the transaction of an application that was taken."""


async def offered(client: httpx.AsyncClient, number: str, line: str) -> set[str]:
    """The kinds the form offers for the line; the order page links to the form only when
    there is one."""
    form_url = f"/me/orders/{number}/aftersales/new?line={line}"
    order_page = await client.get(f"/me/orders/{number}")
    assert order_page.status_code == 200
    form = await client.get(form_url)
    kinds = set(re.findall(r'name="kind" value="(\w+)"', form.text))
    assert (f'href="{form_url}"' in order_page.text) == bool(kinds)
    assert form.status_code == (200 if kinds else 409)
    return kinds


async def accepted(app: FastAPI, buyer: Buyer, number: str, line: str) -> set[str]:
    """The kinds `service.apply` takes for one unit of the line (each tried, then undone)."""
    db: Database = app.state.db
    kinds = set()
    for kind in Kind:
        application = service.Application(
            line_id=line, kind=kind, quantity=1, reason=Reason.damaged
        )
        try:
            async with db.transaction() as session:
                await service.apply(session, app.state.settings, buyer.user, number, application)
                raise Undo
        except Undo:
            kinds.add(kind.value)
        except Conflict:
            pass
    return kinds


async def test_the_pages_offer_what_the_service_takes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant, sku, buyer = await one_sku_and_buyer(app)
    await web_login(app, client, buyer.user)

    before_shipment = await paid(client, merchant, buyer, [(sku, 1)])
    (line,) = await line_ids(client, buyer, before_shipment)
    assert await offered(client, before_shipment, line) == {"refund_only"}
    assert await accepted(app, buyer, before_shipment, line) == {"refund_only"}

    sent = await shipped(client, merchant, buyer, [(sku, 1)])
    (line,) = await line_ids(client, buyer, sent)
    assert await offered(client, sent, line) == ALL
    assert await accepted(app, buyer, sent, line) == ALL

    # Five applications made (each withdrawn): none more, though nothing is open.
    five = await received(app, client, merchant, buyer, sku, 1)
    (line,) = await line_ids(client, buyer, five)
    for _ in range(5):
        case = await applied(client, buyer, five, line, "refund_only")
        await done(as_buyer(client, buyer, case["id"], "withdraw"), "closed")
    assert await offered(client, five, line) == set()
    assert await accepted(app, buyer, five, line) == set()
    form = await client.get(f"/me/orders/{five}/aftersales/new?line={line}")
    assert page_alert(form.text)[0] == "too_many_applications"

    # Received: everything, until the window closes.
    late = await received(app, client, merchant, buyer, sku, 1)
    (line,) = await line_ids(client, buyer, late)
    assert await offered(client, late, line) == ALL
    assert await accepted(app, buyer, late, line) == ALL
    clock.advance(timedelta(days=app.state.settings.aftersales_days, minutes=1))
    assert await offered(client, late, line) == set()
    assert await accepted(app, buyer, late, line) == set()
    form = await client.get(f"/me/orders/{late}/aftersales/new?line={line}")
    assert page_alert(form.text)[0] == "aftersales_closed"

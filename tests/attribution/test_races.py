"""Two links followed at once by one buyer (two taps, two tabs): on PostgreSQL, through
separate connections, exactly one binds them, neither fails, and a lapsed binding is
replaced by exactly one of them."""

from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop import clock
from pocketshop.attribution.models import Binding, Store
from pocketshop.db import Database
from tests.attribution.test_attribution import make_store, path_of
from tests.commerce import make_buyer, make_merchant, web_login
from tests.conftest import is_postgres
from tests.races import race

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="SQLite runs writers one at a time: no race to show"
)
PAIRS = 20


async def bound_stores(app: FastAPI) -> list[tuple[int, str]]:
    """(buyer id, the public id of the store they are bound to), one row per binding."""
    db: Database = app.state.db
    async with db.transaction(write=False) as session:
        rows = await session.execute(
            select(Binding.buyer_id, Store.public_id).join(Store, Store.id == Binding.store_id)
        )
        return [(buyer, store) for buyer, store in rows]


@pytest.mark.parametrize("lapsed", [False, True], ids=["first", "after the period"])
async def test_two_links_at_once_bind_a_buyer_once(
    app: FastAPI, client: httpx.AsyncClient, lapsed: bool
) -> None:
    merchant = await make_merchant(app)
    one = await make_store(client, merchant, "一号店")
    two = await make_store(client, merchant, "二号店")
    old = await make_store(client, merchant, "旧店")
    buyers = [await make_buyer(app) for _ in range(PAIRS)]
    async with AsyncExitStack() as stack:
        phones = []
        for buyer in buyers:
            pair = []
            for _tab in range(2):
                transport = httpx.ASGITransport(app=app)
                tab = httpx.AsyncClient(transport=transport, base_url="http://testserver")
                await stack.enter_async_context(tab)
                await web_login(app, tab, buyer.user)
                pair.append(tab)
            phones.append(pair)
        if lapsed:
            for first, _second in phones:
                await first.get(path_of(old["link"]))
            clock.advance(timedelta(days=app.state.settings.referral_days, seconds=1))
            for buyer, pair in zip(buyers, phones, strict=True):
                for tab in pair:  # the login, as long-lived as the binding, lapsed too
                    await web_login(app, tab, buyer.user)
        answers = await race(
            [
                (first.get(path_of(one["link"])), second.get(path_of(two["link"])))
                for first, second in phones
            ]
        )
    assert [(a.status_code, b.status_code) for a, b in answers] == [(303, 303)] * PAIRS
    bound = await bound_stores(app)
    assert sorted(buyer for buyer, _store in bound) == sorted(b.user.id for b in buyers)
    assert {store for _buyer, store in bound} <= {one["id"], two["id"]}

"""'Open your own shop too': a shop's link into onboarding records which shop invited the new
merchant, and the platform's operators see the count per inviting shop."""

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from pocketshop.db import Database
from pocketshop.shops.models import Shop
from tests.aftersales.cases import make_operator
from tests.commerce import make_buyer, make_merchant, web_login
from tests.shops.test_onboarding import page_bank_card, page_identity, page_shop
from tests.support import other_client


async def invited_by(db: Database, name: str) -> int | None:
    async with db.transaction(write=False) as session:
        return await session.scalar(select(Shop.invited_by_shop_id).where(Shop.name == name))


async def test_a_shop_opened_from_another_shops_link_names_it(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    inviter = await make_merchant(app, "邀请人的店")
    home = await client.get(f"/s/{inviter.shop.slug}")
    assert f'href="/onboarding?from={inviter.shop.slug}"' in home.text

    newcomer = await make_buyer(app)
    await web_login(app, client, newcomer.user)
    assert (await client.get(f"/onboarding?from={inviter.shop.slug}")).status_code == 200
    await page_identity(client)
    await page_bank_card(client)
    opened = await page_shop(client, "新来的店")
    assert opened.status_code == 303, opened.text
    assert await invited_by(db, "新来的店") == inviter.shop.id

    # Straight to onboarding, or with a forged cookie: nobody invited them.
    async with other_client(app) as plain:
        another = await make_buyer(app)
        await web_login(app, plain, another.user)
        plain.cookies.set("ps_invited_by", f"{inviter.shop.slug}.forged")
        await plain.get("/onboarding")
        await page_identity(plain)
        await page_bank_card(plain)
        assert (await page_shop(plain, "自己来的店")).status_code == 303
    assert await invited_by(db, "自己来的店") is None

    operator = await make_operator(app)
    async with other_client(app) as admin:
        await web_login(app, admin, operator)
        page = await admin.get("/admin/invitations")
        assert page.status_code == 200
        assert "邀请人的店" in page.text
        assert "新来的店" not in page.text  # invited nobody
    refused = await client.get("/admin/invitations")  # a merchant, not an operator
    assert refused.status_code == 403

"""The product page's lookups, as PostgreSQL plans them in a shop of 6,000 products once
`pocketshop migrate` has gathered the statistics (db.Database.analyze): each reads its rows
through an index, the product by its public id. Without statistics a freshly loaded
database picked the shop's listing index and filtered the whole shop for one product."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text

from pocketshop.db import Database
from tests.commerce import make_merchant, make_product
from tests.conftest import is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL's planner")

COPIES = 6_000
BIG_TABLES = {"products", "skus", "product_images"}  # shops: one row here


async def _copy(session: Any, table: str, source: str, overrides: dict[str, str]) -> None:
    """Every column of `table` as the template rows `t` in `source` have it, but those given."""
    names = [
        name
        for (name,) in await session.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :table "
                "AND table_schema = current_schema() AND column_name <> 'id' "
                "ORDER BY ordinal_position"
            ),
            {"table": table},
        )
    ]
    values = ", ".join(overrides.get(name, f"t.{name}") for name in names)
    await session.execute(
        text(f"INSERT INTO {table} ({', '.join(names)}) SELECT {values} FROM {source}")  # noqa: S608
    )


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "Relation Name" in node:
        yield node
    for child in node.get("Plans", []):
        yield from _scans(child)


async def test_the_product_pages_lookups_use_their_indexes_once_analyzed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant(app)
    made = await make_product(app, merchant.shop, "样品")
    db: Database = app.state.db
    shop, template = merchant.shop.id, made.product.id
    async with db.transaction() as session:
        await _copy(
            session,
            "products",
            f"products t, generate_series(1, {COPIES}) k WHERE t.id = {template}",
            {"public_id": "md5('copy' || k)", "position": "t.position + k"},
        )
        copies = f"products p WHERE p.shop_id = {shop} AND p.id <> {template}"
        for table in ("skus", "product_images"):
            await _copy(
                session,
                table,
                f"{table} t, {copies} AND t.product_id = {template}",
                {"public_id": "md5(random()::text || p.id)", "product_id": "p.id"},
            )
    await db.analyze()

    path = f"/s/{merchant.shop.slug}/p/{made.id}"
    with captured(db) as statements:
        page = await client.get(path)
    assert page.status_code == 200
    selects = [(sql, params) for sql, params in statements if sql.lstrip().startswith("SELECT")]
    assert selects, "the page read its rows"
    plans: dict[str, list[dict[str, Any]]] = {}
    async with db.engine.connect() as connection:
        for sql, params in selects:
            result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", params)
            value = result.scalar_one()
            [plan] = json.loads(value) if isinstance(value, str) else value
            plans[sql] = list(_scans(plan["Plan"]))
    looked_up = [scan for scans in plans.values() for scan in scans]
    assert {scan["Relation Name"] for scan in looked_up} >= {"products", "skus", "product_images"}
    for scan in looked_up:
        if scan["Relation Name"] in BIG_TABLES:
            assert scan["Node Type"] != "Seq Scan", scan
    by_public_id = [
        scan
        for scans in plans.values()
        for scan in scans
        if scan["Relation Name"] == "products" and "public_id" in scan.get("Index Cond", "")
    ]
    assert by_public_id, plans

"""Migrations build the schema from an empty database and match the models exactly."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from pocketshop import migrate
from pocketshop.db import Database
from pocketshop.models import Base
from tests.conftest import TEST_DATABASE_URL, is_postgres, recreate_postgres_database, worker_url


def empty_database(tmp_path: Path) -> str:
    if is_postgres():
        url = worker_url(TEST_DATABASE_URL, "_migrations")
        asyncio.run(recreate_postgres_database(url))
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


def inspect_database(url: str, fn: Any) -> Any:
    async def run() -> Any:
        database = Database(url)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(fn)
        finally:
            await database.dispose()

    return asyncio.run(run())


def schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_matches_models(tmp_path: Path) -> None:
    url = empty_database(tmp_path)
    migrate.upgrade(url)
    assert inspect_database(url, schema_diff) == []
    assert inspect_database(url, table_names) == set(Base.metadata.tables)


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = empty_database(tmp_path)
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    assert inspect_database(url, table_names) == set()
    migrate.upgrade(url)
    assert inspect_database(url, schema_diff) == []


def without(table: Table, *later: str) -> Table:
    """The table as an older revision had it: without columns added since (whose Python
    defaults an insert would otherwise send)."""
    return Table(
        table.name, MetaData(), *(column._copy() for column in table.c if column.name not in later)
    )


def test_orders_a_payment_request_holds_are_marked_as_its(tmp_path: Path) -> None:
    """0005 gives orders a source: those made before it from a payment request are found
    through the requests that hold them."""
    url = empty_database(tmp_path)
    migrate.upgrade(url, "0004")
    tables = Base.metadata.tables
    moment = datetime(2026, 11, 1, tzinfo=UTC)

    async def fill() -> None:
        database = Database(url)
        try:
            async with database.engine.begin() as connection:
                await add_owner_and_shop(
                    connection, without(tables["users"], "is_operator"), tables["shops"], moment
                )
                for number in ("from-request", "from-checkout"):
                    await connection.execute(
                        insert(without(tables["orders"], "aftersales_open", "no_delivery")),
                        order_of_shop(number, moment),
                    )
                held = await connection.scalar(
                    select(tables["orders"].c.id).where(tables["orders"].c.number == "from-request")
                )
                await connection.execute(
                    insert(without(tables["payment_requests"], "no_delivery")),
                    {
                        "public_id": "r1",
                        "shop_id": 1,
                        "created_by": 1,
                        "items": [],
                        "amount": 100,
                        "note": "尾款",
                        "status": "open",
                        "expires_at": moment,
                        "order_id": held,
                        "created_at": moment,
                    },
                )
        finally:
            await database.dispose()

    asyncio.run(fill())
    migrate.upgrade(url)

    def sources(connection: Connection) -> dict[str, str]:
        orders = Base.metadata.tables["orders"]
        rows = connection.execute(select(orders.c.number, orders.c.source))
        return {number: source for number, source in rows}

    assert inspect_database(url, sources) == {
        "from-request": "payment_request",
        "from-checkout": "checkout",
    }


ORDER_CODES = ("province_code", "city_code", "district_code")


async def add_owner_and_shop(
    connection: AsyncConnection, users: Table, shops: Table, moment: datetime
) -> None:
    """User 1 and their shop 1, as rows of the tables as an older revision has them."""
    await connection.execute(
        insert(users),
        {"id": 1, "public_id": "u1", "phone": "+8613800000001", "created_at": moment},
    )
    await connection.execute(
        insert(shops),
        {
            "id": 1,
            "public_id": "s1",
            "owner_id": 1,
            "slug": "shop",
            "name": "店",
            "description": "",
            "status": "open",
            "timezone": "Asia/Shanghai",
            "created_at": moment,
        },
    )


def order_of_shop(number: str, moment: datetime) -> dict[str, Any]:
    """An unpaid order of shop 1 by user 1, with the columns every revision has."""
    return {
        "number": number,
        "shop_id": 1,
        "buyer_id": 1,
        "status": "pending_payment",
        "items_total": 100,
        "shipping_fee": 0,
        "total": 100,
        "line_count": 1,
        "recipient": "李雷",
        "phone": "+8613900139000",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address_detail": "文三路 90 号",
        "created_at": moment,
    }


def test_orders_from_before_region_codes_keep_none(tmp_path: Path) -> None:
    """0015 gives orders their address's adcodes: orders placed before it keep NULL; going
    back drops the columns and keeps the orders."""
    url = empty_database(tmp_path)
    migrate.upgrade(url, "0014")
    tables = Base.metadata.tables
    moment = datetime(2026, 12, 1, tzinfo=UTC)

    async def fill() -> None:
        database = Database(url)
        try:
            async with database.engine.begin() as connection:
                await add_owner_and_shop(connection, tables["users"], tables["shops"], moment)
                await connection.execute(
                    insert(without(tables["orders"], *ORDER_CODES)),
                    order_of_shop("older", moment),
                )
        finally:
            await database.dispose()

    def order_columns(connection: Connection) -> set[str]:
        return {column["name"] for column in inspect(connection).get_columns("orders")}

    def codes(connection: Connection) -> list[tuple[Any, ...]]:
        orders = tables["orders"]
        query = select(orders.c.number, *(orders.c[name] for name in ORDER_CODES))
        return [tuple(row) for row in connection.execute(query)]

    asyncio.run(fill())
    assert not set(ORDER_CODES) & inspect_database(url, order_columns)
    migrate.upgrade(url)
    assert set(ORDER_CODES) <= inspect_database(url, order_columns)
    assert inspect_database(url, codes) == [("older", None, None, None)]
    assert inspect_database(url, schema_diff) == []

    migrate.downgrade(url, "0014")
    assert not set(ORDER_CODES) & inspect_database(url, order_columns)
    numbers = inspect_database(
        url, lambda connection: list(connection.scalars(select(tables["orders"].c.number)))
    )
    assert numbers == ["older"]
    migrate.upgrade(url)
    assert inspect_database(url, codes) == [("older", None, None, None)]

"""Migrations build the schema from an empty database and match the models exactly."""

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

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

"""Each test gets a clean, migrated database: SQLite by default, PostgreSQL when
POCKETSHOP_TEST_DATABASE_URL points at one (CI runs the suite on both)."""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pocketshop import clock, migrate
from pocketshop.app import create_app
from pocketshop.config import Environment, Settings
from pocketshop.db import Database
from pocketshop.ledger import service as ledger
from pocketshop.models import Base

TEST_DATABASE_URL = os.environ.get("POCKETSHOP_TEST_DATABASE_URL", "sqlite")
BASE_URL = "http://testserver"


def is_postgres() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


async def recreate_postgres_database(url: str) -> None:
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()


def worker_url(base: str, suffix: str) -> str:
    parsed = make_url(base)
    return parsed.set(database=f"{parsed.database}{suffix}").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrated once per run: a template file for SQLite, a database for PostgreSQL."""
    if is_postgres():
        url = worker_url(TEST_DATABASE_URL, os.environ.get("PYTEST_XDIST_WORKER", ""))
        asyncio.run(recreate_postgres_database(url))
        migrate.upgrade(url)
        return url
    template = tmp_path_factory.mktemp("db") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{template}")
    return str(template)


@pytest.fixture
async def database_url(migrated_database: str, tmp_path: Path) -> str:
    if is_postgres():
        database = Database(migrated_database)
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with database.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await database.dispose()
        return migrated_database
    path = tmp_path / "test.db"
    shutil.copyfile(migrated_database, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        database_url=database_url,
        instance_dir=tmp_path / "instance",
        secret_key="test-secret-key",
        data_key=Fernet.generate_key().decode(),
        public_base_url=BASE_URL,
        outbox_sweep_seconds=3600,
    )


@pytest.fixture(autouse=True)
def reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    runtime = application.state.runtime
    # Calls the app makes to "other services" (the sandbox provider's notifications to our
    # callback) reach this same app over ASGI, as they would reach it over the network.
    await runtime.http.aclose()
    runtime.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=application))
    yield application
    # After every test: whatever money moved, the ledger's invariants hold.
    async with runtime.db.transaction(write=False) as session:
        problems = await ledger.check(session)
    await runtime.close()
    assert problems == [], problems


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database

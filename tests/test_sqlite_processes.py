"""SQLite with two real processes writing: the server (this test's app) and a `pocketshop
worker` beside it, as README allows. Neither may answer "database is locked"."""

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from pocketshop import clock
from pocketshop.config import Settings
from pocketshop.db import Database
from pocketshop.orders.models import Order
from tests.commerce import make_buyer, make_merchant, make_product, ordered, pay, ship
from tests.conftest import is_postgres

pytestmark = pytest.mark.skipif(is_postgres(), reason="SQLite's one writer across processes")

FOR_THE_WORKER = 40
FOR_THE_BUYER = 16


async def shipped_orders(
    app: FastAPI, client: httpx.AsyncClient, count: int
) -> tuple[list[str], dict[str, str]]:
    """`count` orders of one buyer, paid and shipped; their numbers, and the buyer's auth."""
    merchant = await make_merchant(app)
    sku = (await make_product(app, merchant.shop, stock=count)).skus[0]
    buyer = await make_buyer(app)
    numbers = []
    for index in range(count):
        number = await ordered(client, buyer, merchant.shop, [(sku, 1)])
        await pay(app, number)
        shipped = await ship(client, merchant, number, f"SF{123456789000 + index}")
        assert shipped.status_code == 201, shipped.text
        numbers.append(number)
    return numbers, buyer.auth


async def completed(db: Database, numbers: list[str]) -> int:
    async with db.transaction(write=False) as session:
        return int(
            await session.scalar(
                select(func.count()).where(Order.number.in_(numbers), Order.status == "completed")
            )
            or 0
        )


async def confirmed_by_worker(
    db: Database, numbers: list[str], count: int, worker: "subprocess.Popen[bytes]", log: Path
) -> None:
    """Wait until the worker has confirmed `count` of `numbers` (it is alive meanwhile)."""
    async with asyncio.timeout(60):
        while await completed(db, numbers) < count:
            assert worker.poll() is None, f"the worker stopped; see {log}"
            await asyncio.sleep(0.02)


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "POCKETSHOP_SECRET_KEY": str(settings.secret_key),
        "POCKETSHOP_DATA_KEY": str(settings.data_key),
        "POCKETSHOP_INSTANCE_DIR": str(settings.instance_dir),
        "POCKETSHOP_JOBS_INTERVAL_SECONDS": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pocketshop", "worker"],
        env=env,
        cwd=settings.instance_dir.parent,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


async def test_the_server_and_a_worker_write_side_by_side(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    db: Database = app.state.db
    numbers, auth = await shipped_orders(app, client, FOR_THE_WORKER + FOR_THE_BUYER)
    theirs, ours = numbers[:FOR_THE_WORKER], numbers[FOR_THE_WORKER:]
    # The worker's share is due for automatic confirmation: it writes while we do.
    async with db.transaction() as session:
        await session.execute(
            update(Order)
            .where(Order.number.in_(theirs))
            .values(auto_confirm_at=clock.now() - timedelta(minutes=1))
        )
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        await confirmed_by_worker(db, theirs, 1, worker, log)  # it has started writing
        answers = []
        for number in ours:
            answers.append(
                await client.post(f"/api/v1/orders/{number}/confirm-receipt", headers=auth)
            )
            await asyncio.sleep(0.005)
        await confirmed_by_worker(db, theirs, FOR_THE_WORKER, worker, log)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    errors = log.read_text()
    assert [a.status_code for a in answers] == [200] * FOR_THE_BUYER, [
        a.text for a in answers if a.status_code != 200
    ]
    assert await completed(db, numbers) == len(numbers)
    assert "database is locked" not in errors, errors[-2000:]

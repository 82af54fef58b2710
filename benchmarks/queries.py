"""The SQL column and the raw-asyncpg ceiling: capture the SQL a request runs, then replay it
with bare asyncpg.

Capture drives the real app in-process and records every statement SQLAlchemy sends, with
its parameters: with the page cache on or off, as the scenario's server runs. Replay runs the
same statements on 32 asyncpg connections for a fixed time: no ORM, no HTTP, no templates —
what the database and the driver alone allow.

Another revision's code (the baseline) is captured in a process of its own, with that code
first on PYTHONPATH: `python benchmarks/queries.py REQUESTS.json OUT.pickle` (settings from
the environment, as the server takes them).
"""

import asyncio
import json
import os
import pickle
import re
import secrets
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.engine import make_url

from pocketshop.app import create_app
from pocketshop.config import Settings


@dataclass
class Statement:
    sql: str
    params: tuple[Any, ...]


@dataclass
class Captured:
    status: int
    body: bytes
    headers: dict[str, str]
    statements: list[Statement] = field(default_factory=list)


# A request whose method is this empties the page cache (not the row cache): the pages
# requested after it are rendered with the rows a running server keeps, as a page that fell
# out of the page cache is.
CLEAR_PAGES = "CLEAR_PAGES"


async def capture(
    settings: Settings,
    requests: dict[str, tuple[str, str, dict[str, Any]]],
    *,
    cache: bool = False,
) -> dict[str, Captured]:
    """Run each (method, path, httpx kwargs) once, in order, through one fresh app; record its
    SQL. Without `cache` every page is a real render (the page cache off, the row cache on);
    with it, requests find what earlier ones cached (pages, the shop's row and shipping
    terms), as they do in a server that has been running."""
    app = create_app(settings if cache else settings.model_copy(update={"page_cache_entries": 0}))
    log: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _context: Any, _many: bool) -> None:
        log.append(Statement(sql, tuple(params or ())))

    event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", record)
    found: dict[str, Captured] = {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, (method, path, kwargs) in requests.items():
                if method == CLEAR_PAGES:
                    if app.state.db.page_cache is not None:
                        app.state.db.page_cache.clear()
                    continue
                log.clear()
                response = await client.request(method, path, **kwargs)
                found[name] = Captured(
                    response.status_code, response.content, dict(response.headers), list(log)
                )
    finally:
        await app.state.db.dispose()
    return found


def _dsn(database_url: str) -> dict[str, Any]:
    url = make_url(database_url)
    return {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }


_INSERT = re.compile(r"INSERT INTO (\w+) \(([^)]*)\)")
_ORDER_ID = re.compile(r"\border_id = \$(\d+)")
_ORDER_NUMBER = re.compile(r"\d{20}")
_PUBLIC_ID = re.compile(r"[0-9a-f]{32}")


def _is_public_id(value: Any) -> bool:
    return isinstance(value, str) and _PUBLIC_ID.fullmatch(value) is not None


class OrderReplay:
    """Turns an order creation's statements into fresh ones: a new order number, new public
    ids (alone or in the array of a one-statement insert), and the new order's id wherever the
    captured one was used."""

    def __init__(self, statements: Sequence[Statement]) -> None:
        self.statements = list(statements)
        self.insert_index = -1
        # statement index -> parameter positions holding the order's id
        self.order_id_positions: dict[int, list[int]] = {}
        for index, statement in enumerate(self.statements):
            insert = _INSERT.search(statement.sql)
            if insert and insert.group(1) == "orders":
                self.insert_index = index
                continue
            if insert:
                columns = [column.strip() for column in insert.group(2).split(",")]
                if "order_id" in columns and "SELECT" not in statement.sql:
                    self.order_id_positions[index] = [columns.index("order_id")]
                continue
            positions = [int(found) - 1 for found in _ORDER_ID.findall(statement.sql)]
            if positions:
                self.order_id_positions[index] = positions
        if self.insert_index < 0:
            raise ValueError("no INSERT INTO orders among the captured statements")

    @staticmethod
    def _fresh(value: Any) -> Any:
        if _is_public_id(value):
            return uuid.uuid4().hex
        if isinstance(value, list) and value and all(_is_public_id(item) for item in value):
            return [uuid.uuid4().hex for _ in value]
        return value

    async def run(self, connection: asyncpg.Connection) -> None:
        async with connection.transaction():
            order_id = None
            for index, statement in enumerate(self.statements):
                params = list(statement.params)
                if "INSERT INTO" in statement.sql:  # new rows: new public ids (not the SKUs read)
                    params = [self._fresh(value) for value in params]
                if index == self.insert_index:
                    params = [
                        f"20991231{secrets.randbelow(10**12):012d}"
                        if isinstance(value, str) and _ORDER_NUMBER.fullmatch(value)
                        else value
                        for value in params
                    ]
                for position in self.order_id_positions.get(index, ()):
                    params[position] = order_id
                rows = await connection.fetch(statement.sql, *params)
                if index == self.insert_index:
                    order_id = rows[0][0]


async def replay(
    database_url: str,
    scripts: Sequence[Sequence[Statement]],
    *,
    connections: int,
    seconds: float,
    order: bool = False,
) -> float:
    """Requests' worth of statements per second on `connections` concurrent connections; the
    n-th connection replays scripts[n % len(scripts)]."""
    pool = await asyncpg.create_pool(
        min_size=connections, max_size=connections, **_dsn(database_url)
    )
    orders = [OrderReplay(script) for script in scripts] if order else []
    reads = [
        [s for s in script if not s.sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
        for script in scripts
    ]
    done = 0
    deadline = 0.0

    async def worker(n: int) -> None:
        nonlocal done
        async with pool.acquire() as connection:
            while time.perf_counter() < deadline:
                if orders:
                    await orders[n % len(orders)].run(connection)
                else:
                    for statement in reads[n % len(reads)]:
                        await connection.fetch(statement.sql, *statement.params)
                done += 1

    try:
        rate = 0.0
        for phase_seconds in (min(2.0, seconds), seconds):  # warm-up, then the measurement
            done = 0
            started = time.perf_counter()
            deadline = started + phase_seconds
            await asyncio.gather(*(worker(n) for n in range(connections)))
            rate = done / (time.perf_counter() - started)
        return rate
    finally:
        await pool.close()


def capture_elsewhere(
    python_path: str,
    env: dict[str, str],
    requests: dict[str, tuple[str, str, dict[str, Any]]],
    *,
    cache: bool,
    workdir: Any,
) -> dict[str, Captured]:
    """`capture` in a process of its own, with `python_path` first (another revision's code)."""
    import subprocess

    spec = workdir / "capture-requests.json"
    out = workdir / "capture-out.pickle"
    spec.write_text(json.dumps({"requests": requests, "cache": cache}))
    subprocess.run(  # noqa: S603
        [sys.executable, __file__, str(spec), str(out)],
        env={**env, "PYTHONPATH": python_path},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    found: dict[str, Captured] = pickle.loads(out.read_bytes())  # noqa: S301 -- our own file
    return found


def _main() -> int:
    # This module again, as `benchmarks.queries`: what it pickles unpickles in run.py.
    from benchmarks import queries

    spec = json.loads(open(sys.argv[1]).read())  # noqa: SIM115
    requests = {name: tuple(request) for name, request in spec["requests"].items()}
    settings = Settings()  # from the environment, as the server's
    found = asyncio.run(queries.capture(settings, requests, cache=spec["cache"]))  # type: ignore[arg-type]
    with open(sys.argv[2], "wb") as out:
        pickle.dump(found, out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(_main())

# ruff: noqa: T201 -- a command-line tool: it prints its table
"""Pocketshop speed benchmark (issues 3, 4 and 14, "Speed"): one command, printed table.

    .venv/bin/python benchmarks/run.py                    # everything, about 20 minutes
    .venv/bin/python benchmarks/run.py --keep-db          # reuse the seeded database
    .venv/bin/python benchmarks/run.py --scale small --only product_page_uncached product_api

Creates the PostgreSQL database `pocketshop_bench` (dropped first), migrates it, seeds it at
a realistic size (seed.py: 1,000 shops, 6,034 products, 1,000,000 orders) and ANALYZEs it;
starts `pocketshop serve` (one worker) and loads it with wrk, scenario by scenario. The read
scenarios run against the code before issue 14 too (`--baseline`), in the same run, on the
same database. Every figure is printed beside its ceilings: a bare ASGI app answering the
same body under the same uvicorn settings, and raw asyncpg running the same SQL on as many
connections. See benchmarks/README.md.
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from cryptography.fernet import Fernet

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import page_views, queries, seed  # noqa: E402

from pocketshop import migrate  # noqa: E402
from pocketshop.config import Settings  # noqa: E402
from pocketshop.payments import sandbox  # noqa: E402

DATABASE = "pocketshop_bench"
# The last commit before issue 14: the code the figures were measured on.
BASELINE = "2ff5e41"
UNLIMITED = 10**9
SAMPLE = 20  # requests whose SQL is counted per many-URL scenario (the mean is shown)
ADDRESS = {
    "recipient": "李雷",
    "phone": "13900139000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路 90 号 3 单元 201",
}
# The merchant's customer list, filtered: name or phone containing 王, repeat buyers.
CUSTOMER_FILTER = "q=%E7%8E%8B&min_orders=2"


# What a phone's in-chat browser sends with a page request (GETs only).
BROWSER_HEADERS = (
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"),
    (
        "User-Agent",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI",
    ),
)


@dataclass
class Scenario:
    name: str
    label: str
    target: float  # requests (or orders) per second; 0 = no target, shown for context
    method: str
    path: str  # the one URL, or the first of `paths`
    target_p99_ms: float | None = 100.0
    script: str | None = None  # a wrk Lua script (POSTs)
    paths: list[str] | None = None  # many URLs, requested in turn (paths.lua)
    new_visitors: bool = False  # each request another phone (paths.lua): a page view written
    # Latency targets are a merchant's wait, measured one request at a time: 32 connections
    # on one saturated worker would measure the queue (32 / throughput), not the answer.
    connections: int | None = None
    cache: bool = True  # the server's page cache
    headers: tuple[tuple[str, str], ...] = BROWSER_HEADERS
    baseline: bool = False  # measured against the baseline's code too


@dataclass
class Load:
    requests_per_second: float
    counted_per_second: float  # 2xx (201 for orders, orders that became paid for paid orders)
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu: float  # share of one core
    cpu_ms_per_request: float
    transactions_per_request: float | None = None  # pg_stat_database, all of the server's


@dataclass
class Result:
    load: Load | None = None
    bare: float | None = None  # requests/s of the bare ASGI app
    raw: float | None = None  # requests' worth of SQL/s with raw asyncpg
    note: str = ""
    statements: float | None = None  # per request, counted in-process
    body_bytes: int = 0


@dataclass
class Code:
    """The code a server runs: this work tree's, or the baseline's (extracted from git)."""

    name: str
    python_path: str | None = None  # first on PYTHONPATH (None: the installed package)
    results: dict[str, Result] = field(default_factory=dict)

    def serve_command(self) -> list[str]:
        if self.python_path is None:
            return [sys.executable, "-m", "pocketshop", "serve"]
        return [sys.executable, str(HERE / "serve_as_is.py")]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- set-up ------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        log("installing wrk (apt-get install -y wrk)")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)  # noqa: S607
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is missing and could not be installed")
    return found


async def recreate_database(host: str, port: int, database: str) -> None:
    admin = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()


def server_env(args: argparse.Namespace, database_url: str, instance: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        # Demo, not production: production refuses the sandbox provider (it takes no real
        # money), and the paid-orders scenario pays through it. Keys are set as in production.
        "POCKETSHOP_ENV": "demo",
        "POCKETSHOP_SECRET_KEY": "bench-" + os.urandom(24).hex(),
        "POCKETSHOP_DATA_KEY": Fernet.generate_key().decode(),
        "POCKETSHOP_PUBLIC_BASE_URL": f"http://127.0.0.1:{args.port}",
        "POCKETSHOP_INSTANCE_DIR": str(instance),
        "POCKETSHOP_SMS_BACKEND": "console",
        # The order scenarios have 64 buyers place thousands of unpaid orders: the hoarding
        # these limits refuse. Out of reach here, so every order is placed and each still runs
        # the check, over more unpaid orders than a real buyer may hold (a cost on the safe side).
        "POCKETSHOP_MAX_UNPAID_ORDERS_PER_SHOP": str(UNLIMITED),
        "POCKETSHOP_MAX_UNPAID_UNITS_PER_SKU": str(UNLIMITED),
        "PYTHONUNBUFFERED": "1",
    }


def settings_from(env: dict[str, str]) -> Settings:
    return Settings(
        env=env["POCKETSHOP_ENV"],
        database_url=env["DATABASE_URL"],
        secret_key=env["POCKETSHOP_SECRET_KEY"],
        data_key=env["POCKETSHOP_DATA_KEY"],
        public_base_url=env["POCKETSHOP_PUBLIC_BASE_URL"],
        instance_dir=Path(env["POCKETSHOP_INSTANCE_DIR"]),
        sms_backend="console",
        max_unpaid_orders_per_shop=int(env["POCKETSHOP_MAX_UNPAID_ORDERS_PER_SHOP"]),
        max_unpaid_units_per_sku=int(env["POCKETSHOP_MAX_UNPAID_UNITS_PER_SKU"]),
    )


def seed_database(
    args: argparse.Namespace, database_url: str, scale: seed.Scale, *, database: str
) -> int:
    """Drop, create, migrate and seed `database` (seed.py run alone)."""
    workdir = Path(tempfile.mkdtemp(prefix="pocketshop-seed-"))
    try:
        env = server_env(argparse.Namespace(port=8765), database_url, workdir / "instance")
        asyncio.run(recreate_database(args.pg_host, args.pg_port, database))
        migrate.upgrade(database_url)
        data = asyncio.run(seed.seed(database_url, settings_from(env), 64, scale))
        log(json.dumps(data["counts"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def extract_baseline(revision: str, workdir: Path) -> Path:
    """`revision`'s src/ in a temporary folder (git archive: nothing of git's state is
    touched, and nothing is left behind if the run is stopped)."""
    target = workdir / f"baseline-{revision}"
    target.mkdir()
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", str(HERE.parent), "archive", revision, "src"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)  # noqa: S603, S607
    return target / "src"


class Server:
    """A subprocess answering HTTP on a port; stopped with SIGINT (a clean uvicorn exit)."""

    def __init__(self, command: list[str], env: dict[str, str], port: int, logfile: Path) -> None:
        self.port = port
        self.logfile = logfile
        self.output = logfile.open("w")
        self.process = subprocess.Popen(  # noqa: S603
            command, env=env, stdout=self.output, stderr=subprocess.STDOUT, cwd=HERE.parent
        )

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited:\n{self.logfile.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url(path), timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"server not ready:\n{self.logfile.read_text()[-3000:]}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.close()


# --- load --------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


async def _fetch(args: argparse.Namespace, sql: str, *params: Any) -> Any:
    connection = await asyncpg.connect(
        host=args.pg_host, port=args.pg_port, user="postgres", database=args.database
    )
    try:
        return await connection.fetchval(sql, *params)
    finally:
        await connection.close()


def fetch(args: argparse.Namespace, sql: str, *params: Any) -> Any:
    return asyncio.run(_fetch(args, sql, *params))


def transactions(args: argparse.Namespace) -> int:
    """Transactions committed or rolled back in the database so far (pg_stat_database; a
    backend reports its own within a second of going idle)."""
    return int(
        fetch(
            args,
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            args.database,
        )
    )


def wrk(
    args: argparse.Namespace,
    server: Server,
    scenario: Scenario,
    seconds: float,
    env: dict[str, str] | None = None,
    script: Path | None = None,
) -> Load:
    connections = scenario.connections or args.connections
    command = [
        "wrk",
        f"-t{min(args.threads, connections)}",
        f"-c{connections}",
        f"-d{max(round(seconds), 1)}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    if script is not None:
        command += ["-s", str(script)]
    else:
        command += [f"--header={name}: {value}" for name, value in scenario.headers]
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603
        [*command, server.url(scenario.path)],
        capture_output=True,
        text=True,
        check=True,
        # A new id for the provider's transactions in every run (paid_orders.lua).
        env={**os.environ, **(env or {}), "POCKETSHOP_BENCH_RUN": os.urandom(6).hex()},
    )
    elapsed = time.monotonic() - started
    cpu_used = server.cpu_seconds() - cpu_before
    out = result.stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    duration = (
        _ms(
            "".join(re.search(r"requests in ([\d.]+)(\w+)", out).groups())  # type: ignore[union-attr]
        )
        / 1000
    )
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(n) for n in socket.groups()) if socket else 0
    statuses = re.search(r"^STATUSES (\{.*\})$", out, re.MULTILINE)
    if statuses:
        counts = {int(k): v for k, v in json.loads(statuses.group(1)).items()}
        counted = counts.get(201, 0)
        bad = sum(n for status, n in counts.items() if not 200 <= status < 300)
    else:
        bad = int(non_2xx.group(1)) if non_2xx else 0
        counted = total - bad
    return Load(
        requests_per_second=total / duration,
        counted_per_second=counted / duration,
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        non_2xx=bad,
        socket_errors=socket_errors,
        server_cpu=cpu_used / elapsed,
        cpu_ms_per_request=cpu_used * 1000 / max(total, 1),
    )


def write_order_data(path: Path, data: dict[str, Any], settings: Settings) -> None:
    def lua_list(items: list[str]) -> str:
        return "{" + ",".join(json.dumps(item) for item in items) + "}"

    skus = [sku for product in data["products"] for sku in product["skus"]]
    # The load generator plays the sandbox provider too: it signs its notifications.
    key = sandbox.signing_key(settings).hex()
    path.write_text(
        f"return {{slug={json.dumps(data['slug'])}, tokens={lua_list(data['tokens'])}, "
        f"skus={lua_list(skus)}, key={json.dumps(key)}}}\n"
    )


def paid_between(args: argparse.Namespace, shop_id: int, start: Any, end: Any) -> int:
    """Orders of the benchmark's shop that became paid between `start` and `end` (the
    database's clock): what the paid-orders scenario counts, whatever its answers said."""
    return int(
        fetch(
            args,
            "SELECT count(*) FROM orders WHERE shop_id = $1 AND paid_at >= $2 AND paid_at < $3",
            shop_id,
            start,
            end,
        )
    )


def _tool(name: str, *arguments: str) -> str:
    """Run a PostgreSQL client tool (found on PATH); its output."""
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is missing (Debian: postgresql-client)")
    result = subprocess.run(  # noqa: S603
        [path, *arguments], check=True, capture_output=True, text=True
    )
    return result.stdout


def pgbench(args: argparse.Namespace, seconds: float) -> float:
    """pgbench's TPC-B-like transactions per second on this machine's PostgreSQL, the same
    client count: the ceiling of any write-heavy scenario."""
    database = "pocketshop_pgbench"
    base = ["-h", args.pg_host, "-p", str(args.pg_port), "-U", "postgres"]
    _tool("dropdb", *base, "--if-exists", database)
    _tool("createdb", *base, database)
    _tool("pgbench", *base, "-i", "-q", "-s", "10", database)
    out = _tool(
        "pgbench",
        *base,
        "-b",
        "tpcb-like",
        "-c",
        str(args.connections),
        "-j",
        str(args.threads),
        "-T",
        str(max(round(seconds), 1)),
        "-n",
        database,
    )
    _tool("dropdb", *base, "--if-exists", database)
    found = re.search(r"tps = ([\d.]+)", out)
    assert found, out
    return float(found.group(1))


# --- the scenarios -----------------------------------------------------------------------------


def scenarios(data: dict[str, Any]) -> list[Scenario]:
    slug = data["slug"]
    product = data["products"][0]["id"]  # one with photos
    # Every product page of every shop, shuffled once (the same order in every run).
    pages = list(data["product_paths"])
    random.Random(14).shuffle(pages)  # noqa: S311 -- an order, not a secret
    api = [path.replace("/s/", "/api/v1/shops/", 1).replace("/p/", "/products/") for path in pages]
    merchant = (
        ("Accept", "application/json"),
        ("Authorization", f"Bearer {data['merchant_token']}"),
    )
    return [
        Scenario(
            "product_page_hot", "product page, one URL", 1500, "GET", f"/s/{slug}/p/{product}"
        ),
        Scenario(
            "product_page_many",
            f"product pages, {len(pages):,} URLs",
            0,
            "GET",
            pages[0],
            paths=pages,
            baseline=True,
        ),
        Scenario(
            "product_page_uncached",
            "product page, cache off",
            0,
            "GET",
            pages[0],
            paths=pages,
            cache=False,
            baseline=True,
        ),
        Scenario(
            "product_api",
            "product JSON API",
            0,
            "GET",
            api[0],
            paths=api,
            cache=False,
            headers=(("Accept", "application/json"),),
            baseline=True,
        ),
        Scenario("shop_home", "shop home", 1000, "GET", f"/s/{slug}"),
        Scenario(
            "product_page_visitors",
            "product page, one URL, new visitors",
            1500,
            "GET",
            f"/s/{slug}/p/{product}",
            new_visitors=True,
        ),
        Scenario(
            "customer_list",
            "customer list, filtered (API, c1)",
            0,
            "GET",
            f"/api/v1/me/shop/customers?{CUSTOMER_FILTER}",
            headers=merchant,
            connections=1,
        ),
        Scenario(
            "dashboard",
            "dashboard, 30 days (API, c1)",
            0,
            "GET",
            "/api/v1/me/shop/analytics",
            target_p99_ms=30.0,
            headers=merchant,
            connections=1,
        ),
        Scenario("orders", "order creation", 300, "POST", "/api/v1/orders", None, "orders.lua"),
        Scenario(
            "paid_orders",
            "paid orders (3 requests each)",
            200,
            "POST",
            "/api/v1/orders",
            None,
            "paid_orders.lua",
        ),
    ]


def order_requests(data: dict[str, Any], count: int) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """`count` order creations by different buyers for different SKUs (no lock contention)."""
    skus = [sku for product in data["products"] for sku in product["skus"]]
    return {
        f"order_{n}": (
            "POST",
            "/api/v1/orders",
            {
                "json": {
                    "shop": data["slug"],
                    "lines": [{"sku_id": skus[-1 - n], "quantity": 1}],
                    "address": ADDRESS,
                },
                "headers": {"Authorization": f"Bearer {data['tokens'][n % len(data['tokens'])]}"},
            },
        )
        for n in range(count)
    }


def capture_sql(
    code: Code,
    chosen: list[Scenario],
    settings: Settings,
    env: dict[str, str],
    workdir: Path,
    data: dict[str, Any],
    connections: int,
) -> dict[str, list[queries.Captured]]:
    """Each scenario's requests run in-process, their SQL counted, as its server runs them:
    the page cache on or off as the scenario's server has it; rows (the shop, its shipping
    terms, a login) cached by a first round, as in a server that has been running. One URL:
    the second request is counted (a page the cache holds runs none). Many URLs: SAMPLE of
    them, counted after the page cache was emptied (the list is longer than the cache)."""

    def run(
        requests: dict[str, tuple[str, str, dict[str, Any]]], *, cache: bool
    ) -> dict[str, queries.Captured]:
        if code.python_path is None:
            return asyncio.run(queries.capture(settings, requests, cache=cache))
        return queries.capture_elsewhere(
            code.python_path, env, requests, cache=cache, workdir=workdir
        )

    found: dict[str, list[queries.Captured]] = {}
    for scenario in chosen:
        if scenario.name in ("orders", "paid_orders"):
            continue
        headers = {"headers": dict(scenario.headers)}
        if scenario.paths:
            sample = scenario.paths[:SAMPLE]
            requests = {f"warm_{n}": ("GET", path, headers) for n, path in enumerate(sample)}
            requests["clear"] = (queries.CLEAR_PAGES, "", {})
            requests.update({f"count_{n}": ("GET", path, headers) for n, path in enumerate(sample)})
        else:
            requests = {
                "warm": ("GET", scenario.path, headers),
                "count_0": ("GET", scenario.path, headers),
            }
        captured = run(requests, cache=scenario.cache)
        found[scenario.name] = [captured[name] for name in captured if name.startswith("count_")]
    if any(s.name in ("orders", "paid_orders") for s in chosen):
        orders = order_requests(data, connections)
        # A first round fills the cache (the shop, its shipping terms, each buyer's login)
        # as the warm-up does for the server; the second is recorded.
        warm_up = {f"warm_up_{name}": request for name, request in orders.items()}
        orders_sql = run({**warm_up, **orders}, cache=True)
        found["orders"] = [orders_sql[name] for name in orders]
    return found


def statements_of(captured: list[queries.Captured]) -> float:
    return sum(len(c.statements) for c in captured) / max(len(captured), 1)


# --- the run -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--buyers", type=int, default=64)
    parser.add_argument("--scale", choices=sorted(seed.SCALES), default="full")
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        metavar="REV",
        help=f"the older code the read scenarios are compared with (default {BASELINE}, the "
        "last commit before issue 14; 'none' to skip)",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        help="scenario names: product_page_hot product_page_many product_page_uncached "
        "product_api shop_home product_page_visitors customer_list dashboard orders paid_orders "
        "page_view_cost",
    )
    parser.add_argument("--keep-db", action="store_true", help="reuse the seeded database")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record the server with py-spy during each measured run (collapsed stacks in DIR)",
    )
    args = parser.parse_args()

    ensure_wrk()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        log(f"note: load average {load_before[0]:.2f}: other work on this machine skews figures")
    workdir = Path(tempfile.mkdtemp(prefix="pocketshop-bench-"))
    database_url = f"postgresql+asyncpg://postgres@{args.pg_host}:{args.pg_port}/{args.database}"
    env = server_env(args, database_url, workdir / "instance")
    settings = settings_from(env)
    scale = seed.SCALES[args.scale]
    seed_file = Path(tempfile.gettempdir()) / f"{args.database}-{args.scale}-seed.json"
    try:
        if args.keep_db and seed_file.exists():
            data = json.loads(seed_file.read_text())
            log(f"reusing the seeded database {args.database}")
        else:
            log(f"creating database {args.database}, migrating, seeding ({args.scale})")
            seed_file.unlink(missing_ok=True)
            asyncio.run(recreate_database(args.pg_host, args.pg_port, args.database))
            migrate.upgrade(database_url)
            data = asyncio.run(seed.seed(database_url, settings, args.buyers, scale))
            seed_file.write_text(json.dumps(data))
        chosen = [s for s in scenarios(data) if not args.only or s.name in args.only]

        new = Code("this tree")
        codes = [new]
        if args.baseline != "none" and any(s.baseline for s in chosen):
            log(f"baseline: {args.baseline}'s code (git archive)")
            codes.append(Code(args.baseline, str(extract_baseline(args.baseline, workdir))))

        captured: dict[str, list[queries.Captured]] = {}
        for code in codes:
            log(f"{code.name}: counting each request's SQL in-process")
            mine = [s for s in chosen if code is new or s.baseline]
            sql = capture_sql(code, mine, settings, env, workdir, data, args.connections)
            for scenario in mine:
                samples = sql.get(scenario.name, [])
                result = code.results.setdefault(scenario.name, Result())
                if samples:
                    result.statements = statements_of(samples)
                    result.body_bytes = len(samples[0].body)
                    bad = [c.status for c in samples if c.status not in (200, 201)]
                    if bad:
                        result.note = f"answers {bad[0]}"
            if code is new:
                captured = sql

        lua_data = workdir / "orders-data.lua"
        write_order_data(lua_data, data, settings)
        # Servers one at a time: the page cache off (the real render), then on; the
        # baseline's right after this tree's, the writes last.
        groups: list[tuple[Code, bool, list[Scenario]]] = []
        for cache in (False, True):
            for code in codes:
                group = [
                    s
                    for s in chosen
                    if s.cache == cache
                    and (code is new or s.baseline)
                    and s.name not in ("orders", "paid_orders")
                ]
                if group:
                    groups.append((code, cache, group))
        writes = [s for s in chosen if s.name in ("orders", "paid_orders")]
        if writes:
            groups.append((new, True, writes))
        for code, cache, group in groups:
            load_group(args, code, cache, group, env, workdir, lua_data, data)

        ceiling_tps = None
        for scenario in chosen:
            result = new.results[scenario.name]
            if result.load is None:
                continue
            if scenario.name == "paid_orders":
                # Three requests of different shapes: its ceiling is PostgreSQL's own.
                log(f"{scenario.label}: ceiling (pgbench tpcb-like)")
                ceiling_tps = pgbench(args, args.duration)
                continue
            ceilings(args, scenario, result, captured[scenario.name], workdir, database_url)
        cost = None
        if not args.only or "page_view_cost" in args.only:
            log("page views: recording and flushing 20,000 new visitors' views in-process")
            cost = asyncio.run(page_views.measure(settings, data["product_paths"]))
        print_table(args, chosen, codes, load_before, data)
        if cost is not None:
            print(
                f"a page view recorded ({cost.views:,} new visitors, {cost.written:,} rows): "
                f"{cost.request_us:.1f} µs of CPU in the request, {cost.flush_us:.1f} µs in the "
                f"background flush ({cost.flush_wall_us:.1f} µs of its wall time): "
                f"{cost.total_ms:.3f} ms in all, target < 1 ms"
            )
        if ceiling_tps is not None:
            print(
                f"paid orders' ceiling: pgbench tpcb-like, {args.connections} clients, scale 10, "
                f"the same run: {ceiling_tps:,.0f} transactions/s"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def ceilings(
    args: argparse.Namespace,
    scenario: Scenario,
    result: Result,
    samples: list[queries.Captured],
    workdir: Path,
    database_url: str,
) -> None:
    """The scenario's two ceilings: a bare ASGI app answering its body, and its SQL replayed
    with raw asyncpg (none when it runs no SQL)."""
    body_file = workdir / f"{scenario.name}.body"
    body_file.write_bytes(samples[0].body)
    log(f"{scenario.label}: ceilings (bare ASGI, {len(samples[0].body)} bytes; raw asyncpg)")
    bare = Server(
        [sys.executable, str(HERE / "bare_app.py"), str(args.port + 1)],
        {**os.environ, "POCKETSHOP_BENCH_BODY": str(body_file)},
        args.port + 1,
        workdir / "bare.log",
    )
    try:
        bare.wait_ready("/")
        bare_scenario = Scenario("bare", "bare", 0, "GET", "/")
        wrk(args, bare, bare_scenario, min(args.warmup, 2))
        result.bare = wrk(args, bare, bare_scenario, args.duration).requests_per_second
    finally:
        bare.stop()
    scripts = [sample.statements for sample in samples if sample.statements]
    if not scripts:
        return
    result.raw = asyncio.Runner(loop_factory=uvloop.new_event_loop).run(
        queries.replay(
            database_url,
            scripts,
            connections=args.connections,
            seconds=args.duration,
            order=scenario.name == "orders",
        )
    )


def load_group(
    args: argparse.Namespace,
    code: Code,
    cache: bool,
    group: list[Scenario],
    env: dict[str, str],
    workdir: Path,
    lua_data: Path,
    data: dict[str, Any],
) -> None:
    """Start `code`'s server (its page cache on or off), load it with each scenario in turn
    (warm-up first), stop it."""
    server_environment = {**env}
    if code.python_path is not None:
        server_environment["PYTHONPATH"] = code.python_path
    if not cache:
        server_environment["POCKETSHOP_PAGE_CACHE_ENTRIES"] = "0"
    server = Server(
        [*code.serve_command(), "--port", str(args.port)],
        server_environment,
        args.port,
        workdir / "server.log",
    )
    headers_file = workdir / "headers.txt"
    try:
        server.wait_ready("/healthz")
        log(f"{code.name}: server up (page cache {'on' if cache else 'off'})")
        for scenario in group:
            result = code.results.setdefault(scenario.name, Result())
            if result.note:
                continue
            lua_env = {
                "POCKETSHOP_BENCH_DATA": str(lua_data),
                "POCKETSHOP_BENCH_LIB": str(HERE),
                "POCKETSHOP_BENCH_THREADS": str(args.threads),
            }
            script = HERE / scenario.script if scenario.script else None
            if scenario.paths or scenario.new_visitors:
                paths_file = workdir / f"{scenario.name}.paths"
                paths_file.write_text("\n".join(scenario.paths or [scenario.path]) + "\n")
                headers_file.write_text("".join(f"{n}: {v}\n" for n, v in scenario.headers))
                lua_env.update(
                    POCKETSHOP_BENCH_PATHS=str(paths_file),
                    POCKETSHOP_BENCH_HEADERS=str(headers_file),
                    POCKETSHOP_BENCH_NEW_VISITORS="1" if scenario.new_visitors else "",
                )
                script = HERE / "paths.lua"
            log(f"{code.name}: {scenario.label}: warm-up {args.warmup:g}s, then {args.duration:g}s")
            wrk(args, server, scenario, args.warmup, lua_env, script)
            time.sleep(1.2)  # the backends report their transactions
            before = transactions(args)
            start = fetch(args, "SELECT clock_timestamp()")
            profiler = profile(args, server, scenario, code)
            load = wrk(args, server, scenario, args.duration, lua_env, script)
            end = fetch(args, "SELECT clock_timestamp()")
            if profiler is not None:
                profiler.wait()
            time.sleep(1.2)
            # Less the three of our own: the clock twice, the count once.
            load.transactions_per_request = (transactions(args) - before - 3) / max(
                load.requests_per_second * args.duration, 1
            )
            if scenario.name == "paid_orders":
                # What counts is orders that became paid while measured, read from the database.
                paid = paid_between(args, data["shop_id"], start, end)
                load.counted_per_second = paid / (end - start).total_seconds()
            result.load = load
    finally:
        server.stop()
    errors = [line for line in server.logfile.read_text().splitlines() if "Traceback" in line]
    if errors:
        log(f"{code.name}: the server logged {len(errors)} tracebacks ({server.logfile})")


def profile(
    args: argparse.Namespace, server: Server, scenario: Scenario, code: Code
) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server while the scenario is measured (`--profile`)."""
    if args.profile is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args.profile.mkdir(parents=True, exist_ok=True)
    suffix = "" if code.python_path is None else f"-{code.name}"
    output = args.profile / f"{scenario.name}{suffix}.txt"
    log(f"{scenario.label}: py-spy record into {output}")
    return subprocess.Popen(  # noqa: S603
        [
            spy,
            "record",
            "--nonblocking",
            "-f",
            "raw",
            "-p",
            str(server.process.pid),
            "-d",
            str(max(round(args.duration) - 1, 1)),
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def print_table(
    args: argparse.Namespace,
    chosen: list[Scenario],
    codes: list[Code],
    load_before: tuple[float, float, float],
    data: dict[str, Any],
) -> None:
    counts = data.get("counts", {})
    print(
        f"\nPocketshop on PostgreSQL, one `pocketshop serve` worker, wrk -t{args.threads} "
        f"-c{args.connections}, {args.duration:g}s per figure, {os.cpu_count()} cores; "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n"
        f"database: {counts.get('shops', 0):,} shops, {counts.get('products', 0):,} products, "
        f"{counts.get('orders', 0):,} orders, {counts.get('customers', 0):,} customers "
        f"(seed.py --scale {args.scale}, ANALYZEd)\n"
    )
    header = (
        f"{'scenario':<38}{'code':>9}{'target':>7}{'ok/s':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'bad':>5}{'cpu':>6}{'ms cpu':>8}{'SQL':>5}{'tx/req':>7}{'bare ASGI':>10}"
        f"{'raw asyncpg':>12}  verdict"
    )
    print(header)
    print("-" * len(header))
    for scenario in chosen:
        for code in codes:
            result = code.results.get(scenario.name)
            if result is None:
                continue
            name = "this" if code.python_path is None else code.name
            target = f"{scenario.target:g}" if scenario.target and code is codes[0] else "-"
            load = result.load
            if load is None:
                print(f"{scenario.label:<38}{name:>9}{target:>7}  not measured: {result.note}")
                continue
            verdict = "-"
            if scenario.target and code is codes[0]:
                fast = load.counted_per_second >= scenario.target
                quick = scenario.target_p99_ms is None or load.p99_ms < scenario.target_p99_ms
                verdict = "meets target" if fast and quick and load.non_2xx == 0 else "MISSES"
            elif scenario.target_p99_ms is not None and code is codes[0]:
                limit = scenario.target_p99_ms
                verdict = f"p99 {'<' if load.p99_ms < limit else '≥ (MISSES)'} {limit:g} ms"
            statements = "-" if result.statements is None else f"{result.statements:.3g}"
            tx = load.transactions_per_request
            print(
                f"{scenario.label:<38}{name:>9}{target:>7}{load.counted_per_second:>7.0f}"
                f"{load.p50_ms:>8.1f}{load.p99_ms:>8.1f}{load.non_2xx + load.socket_errors:>5}"
                f"{load.server_cpu:>6.0%}{load.cpu_ms_per_request:>8.2f}{statements:>5}"
                f"{'-' if tx is None else f'{tx:.2f}':>7}"
                f"{f'{result.bare:.0f}' if result.bare else '-':>10}"
                f"{f'{result.raw:.0f}' if result.raw else '-':>12}  {verdict}"
            )
    compared = [
        s
        for s in chosen
        if s.baseline and len(codes) > 1 and all(c.results.get(s.name) for c in codes)
    ]
    if compared:
        old = codes[1]
        print(f"\nside by side, this run: {old.name} (before issue 14) and this tree")
        print(
            f"{'scenario':<38}{'ms cpu before':>14}{'now':>8}{'faster':>8}"
            f"{'ok/s before':>13}{'now':>8}"
        )
        for scenario in compared:
            before, now = old.results[scenario.name].load, codes[0].results[scenario.name].load
            if before is None or now is None:
                continue
            print(
                f"{scenario.label:<38}{before.cpu_ms_per_request:>14.2f}"
                f"{now.cpu_ms_per_request:>8.2f}"
                f"{before.cpu_ms_per_request / now.cpu_ms_per_request:>7.1f}×"
                f"{before.counted_per_second:>13.0f}{now.counted_per_second:>8.0f}"
            )
    print(
        """
ok/s: 2xx answers per second (201 Created for orders; orders that became paid, read from the
database, for paid orders). bad: non-2xx answers and socket errors. cpu: the server process's
share of one core; ms cpu: its CPU time per request (the figure to compare: other work on the
machine moves it least). SQL: statements per request (BEGIN/COMMIT not counted), counted
in-process as the scenario's server runs it: a page the cache holds runs none; many URLs:
the mean of 20 pages the cache does not hold, rows (shop, shipping terms, login) cached.
tx/req: the database's transactions per request while measured (pg_stat_database: the
server's background work included). bare ASGI: requests/s of a bare ASGI app answering the
same body under the same uvicorn settings. raw asyncpg: requests' worth of the same SQL per
second, replayed with asyncpg on as many connections (orders: each in one transaction, with
a fresh number and ids); none for a scenario that runs no SQL."""
    )


if __name__ == "__main__":
    sys.exit(main())

# ruff: noqa: T201 -- a command-line tool: it prints its table
"""Pocketshop speed benchmark (issue 3, "Speed"): one command, fresh database, printed table.

    /work/venv/bin/python benchmarks/run.py            # everything, ~3 minutes
    /work/venv/bin/python benchmarks/run.py --only product_page --duration 5

Creates the PostgreSQL database `pocketshop_bench` (dropped first), migrates and seeds it
through the services, starts `pocketshop serve` (one worker) and loads it with wrk; then, in
the same run, measures the two ceilings of every figure: a bare ASGI app answering the same
body under the same uvicorn settings, and raw asyncpg running the same SQL on as many
connections. See benchmarks/README.md.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import uvloop
from cryptography.fernet import Fernet

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import queries, seed  # noqa: E402

from pocketshop import migrate  # noqa: E402
from pocketshop.config import Settings  # noqa: E402
from pocketshop.payments import sandbox  # noqa: E402

DATABASE = "pocketshop_bench"
UNLIMITED = 10**9
ADDRESS = {
    "recipient": "李雷",
    "phone": "13900139000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路 90 号 3 单元 201",
}


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
    path: str
    target_p99_ms: float | None = 100.0
    script: str | None = None  # a wrk Lua script (POSTs)


@dataclass
class Load:
    requests_per_second: float
    counted_per_second: float  # 2xx (201 for orders)
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu: float  # share of one core
    cpu_ms_per_request: float


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


async def recreate_database(host: str, port: int) -> None:
    admin = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
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


def wrk(
    args: argparse.Namespace,
    server: Server,
    scenario: Scenario,
    seconds: float,
    env: dict[str, str] | None = None,
    script: Path | None = None,
) -> Load:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(round(seconds), 1)}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    if script is not None:
        command += ["-s", str(script)]
    else:
        command += [f"--header={name}: {value}" for name, value in BROWSER_HEADERS]
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603
        [*command, server.url(scenario.path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.monotonic() - started
    cpu_used = server.cpu_seconds() - cpu_before
    cpu = cpu_used / elapsed
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
        server_cpu=cpu,
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


def paid_count(args: argparse.Namespace) -> int:
    async def count() -> int:
        connection = await asyncpg.connect(
            host=args.pg_host, port=args.pg_port, user="postgres", database=DATABASE
        )
        try:
            return int(
                await connection.fetchval("SELECT count(*) FROM orders WHERE status = 'paid'")
            )
        finally:
            await connection.close()

    return asyncio.run(count())


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
    found = re.search(r"tps = ([\d.]+)", out)
    assert found, out
    return float(found.group(1))


# --- the run -----------------------------------------------------------------------------------


def scenarios(data: dict[str, Any]) -> list[Scenario]:
    slug = data["slug"]
    product = data["products"][0]["id"]  # one with photos
    return [
        Scenario("product_page", "product page", 1500, "GET", f"/s/{slug}/p/{product}"),
        Scenario("shop_home", "shop home", 1000, "GET", f"/s/{slug}"),
        Scenario(
            "product_api", "product JSON API", 0, "GET", f"/api/v1/shops/{slug}/products/{product}"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--buyers", type=int, default=64)
    parser.add_argument(
        "--only",
        nargs="*",
        help="scenario names: product_page shop_home product_api orders paid_orders",
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
    database_url = f"postgresql+asyncpg://postgres@{args.pg_host}:{args.pg_port}/{DATABASE}"
    env = server_env(args, database_url, workdir / "instance")
    settings = settings_from(env)
    seed_file = Path(tempfile.gettempdir()) / f"{DATABASE}-seed.json"
    try:
        if args.keep_db and seed_file.exists():
            data = json.loads(seed_file.read_text())
            log("reusing the seeded database")
        else:
            log(f"creating database {DATABASE}, migrating, seeding")
            asyncio.run(recreate_database(args.pg_host, args.pg_port))
            migrate.upgrade(database_url)
            data = asyncio.run(seed.seed(database_url, settings, args.buyers))
            seed_file.write_text(json.dumps(data))
        chosen = [s for s in scenarios(data) if not args.only or s.name in args.only]

        log("capturing each request's SQL (pages: cache off; orders: as served, cache warm)")
        requests: dict[str, tuple[str, str, dict[str, Any]]] = {
            s.name: (s.method, s.path, {}) for s in chosen if s.method == "GET"
        }
        captured = asyncio.run(queries.capture(settings, requests))
        if any(s.name in ("orders", "paid_orders") for s in chosen):
            orders = order_requests(data, args.connections)
            # A first round fills the cache (the shop, its shipping terms, each buyer's login)
            # as the warm-up does for the server; the second is recorded.
            warm_up = {f"warm_up_{name}": request for name, request in orders.items()}
            orders_sql = asyncio.run(queries.capture(settings, {**warm_up, **orders}, cache=True))
            captured.update({name: orders_sql[name] for name in orders})

        results: dict[str, tuple[Load | None, float | None, float | None, str]] = {}
        lua_data = workdir / "orders-data.lua"
        write_order_data(lua_data, data, settings)
        load_group(
            args,
            chosen,
            [sys.executable, "-m", "pocketshop", "serve"],
            env,
            workdir,
            captured,
            lua_data,
            results,
        )

        ceiling_tps = None
        for scenario in chosen:
            load, _bare, _raw, note = results[scenario.name]
            if load is None:
                continue
            if scenario.name == "paid_orders":
                # Three requests of different shapes: its ceiling is PostgreSQL's own.
                log(f"{scenario.label}: ceiling (pgbench tpcb-like)")
                ceiling_tps = pgbench(args, args.duration)
                continue
            sample = captured.get(scenario.name) or captured["order_0"]
            body_file = workdir / f"{scenario.name}.body"
            body_file.write_bytes(sample.body)
            log(f"{scenario.label}: ceilings (bare ASGI, {len(sample.body)} bytes; raw asyncpg)")
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
                bare_rps = wrk(args, bare, bare_scenario, args.duration).requests_per_second
            finally:
                bare.stop()
            if scenario.name == "orders":
                scripts = [
                    captured[name].statements for name in captured if name.startswith("order_")
                ]
            else:
                scripts = [sample.statements]
            raw = asyncio.Runner(loop_factory=uvloop.new_event_loop).run(
                queries.replay(
                    database_url,
                    scripts,
                    connections=args.connections,
                    seconds=args.duration,
                    order=scenario.name == "orders",
                )
            )
            results[scenario.name] = (load, bare_rps, raw, note)
        print_table(args, chosen, results, captured, load_before)
        if ceiling_tps is not None:
            print(
                f"paid orders' ceiling: pgbench tpcb-like, {args.connections} clients, scale 10, "
                f"the same run: {ceiling_tps:,.0f} transactions/s"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def load_group(
    args: argparse.Namespace,
    group: list[Scenario],
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    captured: dict[str, queries.Captured],
    lua_data: Path,
    results: dict[str, tuple[Load | None, float | None, float | None, str]],
) -> None:
    """Start the server, load it with each scenario in turn (warm-up first), stop it."""
    server = Server([*command, "--port", str(args.port)], env, args.port, workdir / "server.log")
    try:
        server.wait_ready("/healthz")
        for scenario in group:
            sample = captured.get(scenario.name.rstrip("+")) or captured.get("order_0")
            assert sample is not None
            if sample.status not in (200, 201):
                results[scenario.name] = (None, None, None, f"answers {sample.status}")
                continue
            script = HERE / scenario.script if scenario.script else None
            lua_env = {"POCKETSHOP_BENCH_DATA": str(lua_data), "POCKETSHOP_BENCH_LIB": str(HERE)}
            log(f"{scenario.label}: warm-up {args.warmup:g}s, then {args.duration:g}s")
            wrk(args, server, scenario, args.warmup, lua_env, script)
            before = paid_count(args) if scenario.name == "paid_orders" else 0
            profiler = profile(args, server, scenario)
            load = wrk(args, server, scenario, args.duration, lua_env, script)
            if profiler is not None:
                profiler.wait()
            if scenario.name == "paid_orders":
                # What counts is orders that ended paid, read from the database.
                load.counted_per_second = (paid_count(args) - before) / args.duration
            results[scenario.name] = (load, None, None, "")
    finally:
        server.stop()


def profile(
    args: argparse.Namespace, server: Server, scenario: Scenario
) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server while the scenario is measured (`--profile`)."""
    if args.profile is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args.profile.mkdir(parents=True, exist_ok=True)
    output = args.profile / f"{scenario.name}.txt"
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
    results: dict[str, tuple[Load | None, float | None, float | None, str]],
    captured: dict[str, queries.Captured],
    load_before: tuple[float, float, float],
) -> None:
    print(
        f"\nPocketshop on PostgreSQL, one `pocketshop serve` worker, wrk -t{args.threads} "
        f"-c{args.connections}, {args.duration:g}s per figure, {os.cpu_count()} cores; "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n"
    )
    header = (
        f"{'scenario':<28}{'target':>7}{'ok/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'bad':>6}"
        f"{'cpu':>6}{'ms cpu':>8}{'SQL':>5}{'bare ASGI':>11}{'raw asyncpg':>13}  verdict"
    )
    print(header)
    print("-" * len(header))
    for scenario in chosen:
        load, bare, raw, note = results[scenario.name]
        sample = captured.get(scenario.name.rstrip("+")) or captured.get("order_0")
        statements = len(sample.statements) if sample and scenario.name != "paid_orders" else 0
        target = f"{scenario.target:g}" if scenario.target else "-"
        if load is None:
            print(f"{scenario.label:<28}{target:>7}  not measured: {note}")
            continue
        verdict = "-"
        if scenario.target:
            fast = load.counted_per_second >= scenario.target
            quick = scenario.target_p99_ms is None or load.p99_ms < scenario.target_p99_ms
            verdict = "meets target" if fast and quick and load.non_2xx == 0 else "MISSES target"
        print(
            f"{scenario.label:<28}{target:>7}{load.counted_per_second:>8.0f}"
            f"{load.p50_ms:>8.1f}{load.p99_ms:>8.1f}{load.non_2xx + load.socket_errors:>6}"
            f"{load.server_cpu:>6.0%}{load.cpu_ms_per_request:>8.2f}{statements:>5}"
            f"{bare or 0:>11.0f}{raw or 0:>13.0f}  {verdict}"
        )
    print(
        """
ok/s: 2xx answers per second (201 Created for orders). bad: non-2xx answers and socket errors.
cpu: the server process's share of one core; ms cpu: its CPU time per request.
SQL: statements one request runs (BEGIN/COMMIT not counted): pages with the page cache off
(a render); orders as a running server places them: the shop, its shipping terms and the
buyer's login cached.
bare ASGI: requests/s of a bare ASGI app answering the same body under the same uvicorn
settings. raw asyncpg: requests' worth of the same SQL per second, replayed with asyncpg on as
many connections (orders: each in one transaction, with a fresh number and ids)."""
    )


if __name__ == "__main__":
    sys.exit(main())

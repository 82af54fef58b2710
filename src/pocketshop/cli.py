"""`pocketshop serve | demo | worker | migrate | makemigration | ledger check | payments
anomalies | payments resolve | payouts | operators | notifications failed | version`."""

import argparse
import asyncio
import gc
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import uvicorn

from pocketshop import __version__, migrate
from pocketshop.config import Environment, Settings


def _settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


def cmd_version(_args: argparse.Namespace) -> int:
    print(f"pocketshop {__version__}")
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = _settings()
    migrate.upgrade(settings.database_url)
    asyncio.run(_analyze(settings))
    print("database is up to date, its statistics gathered")
    return 0


async def _analyze(settings: Settings) -> None:
    from pocketshop.db import Database

    database = Database(settings.database_url)
    try:
        await database.analyze()
    finally:
        await database.dispose()


def cmd_makemigration(args: argparse.Namespace) -> int:
    migrate.revision(_settings().database_url, args.message)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.public_base_url and not settings.is_production:
        # Links and callback addresses name this server, never a request's Host header; the
        # environment carries it to every worker process.
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
        os.environ["POCKETSHOP_PUBLIC_BASE_URL"] = f"http://{host}:{args.port}"
        settings = _settings()
    # Checked (and generated, outside production) before any worker starts, so all share them.
    settings.secrets  # noqa: B018
    migrate.upgrade(settings.database_url)
    # uvicorn picks uvloop and httptools when installed (uvicorn[standard]): about twice the
    # requests per core of asyncio and h11. An access line per request costs a good share of
    # a cached page's time, and the reverse proxy in front usually keeps one: off unless asked.
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "loop": "auto",
        "http": "auto",
        "proxy_headers": True,
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "access_log": args.access_log,
        "server_header": False,
    }
    if args.workers > 1:
        if settings.is_sqlite:
            print("SQLite serves one worker; use PostgreSQL for more.", file=sys.stderr)
            return 2
        uvicorn.run("pocketshop.app:create_app", factory=True, workers=args.workers, **options)
    else:
        from pocketshop.app import create_app

        app = create_app(settings)
        # Start-up objects (modules, routes, templates) never die: keeping them out of the
        # collector's sweeps shortens the pauses that show up as slow requests.
        gc.freeze()
        uvicorn.run(app, **options)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pocketshop import demo
    from pocketshop.accounts.sms import ConsoleSmsSender, SentSms
    from pocketshop.app import create_app
    from pocketshop.runtime import build

    db_path = Path(args.db).resolve()
    instance_dir = db_path.parent / f"{db_path.stem}-files"
    for leftover in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(instance_dir / "media", ignore_errors=True)
    base_url = f"http://{args.host}:{args.port}"
    settings = _settings(
        env=Environment.demo,
        database_url=f"sqlite+aiosqlite:///{db_path}",
        instance_dir=instance_dir,
        public_base_url=base_url,
        sms_backend="console",
    )
    migrate.upgrade(settings.database_url)

    texted: list[SentSms] = []

    async def seed() -> demo.DemoShop:
        runtime = build(settings)
        try:
            seeded = await demo.seed(runtime.db, settings, runtime.payments.providers)
            await runtime.drain_outbox()  # the refund's call to the sandbox, the notifications
            if isinstance(runtime.sms, ConsoleSmsSender):
                texted.extend(runtime.sms.sent)
            return seeded
        finally:
            await runtime.close()

    seeded = asyncio.run(seed())
    print(
        f"""
Pocketshop demo is running (database: {db_path})

  Storefront   {base_url}/s/{seeded.slug}
  Console      {base_url}/console
  Open a shop  {base_url}/onboarding
  API docs     {base_url}/docs
  SMS inbox    {base_url}/dev/sms
  Disputes     {base_url}/admin/disputes

  Merchant login: phone 138 0013 8000; a buyer with orders: 139 0013 9000;
  the platform's operator (after-sales disputes): 136 0013 6000.
  Ask for a code on the login page, then read it in the SMS inbox.
  Press Ctrl-C to stop.
""",
        flush=True,
    )
    app = create_app(settings)
    app.state.sms.sent.extend(texted)  # the seed's notifications, in the demo's SMS inbox
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    """Timed work and the outbox, apart from the web server (which then runs with
    POCKETSHOP_EMBEDDED_WORKER=false)."""
    from pocketshop import jobs
    from pocketshop.runtime import build

    settings = _settings()
    migrate.upgrade(settings.database_url)

    async def run() -> None:
        # No caches here: the servers keep theirs, told of changes by NOTIFY.
        runtime = build(settings, caching=False)
        try:
            await jobs.run_forever(
                runtime.db,
                settings.jobs_interval_seconds,
                runtime.sweeps,
                also=runtime.periodic(with_outbox=True),
            )
        finally:
            await runtime.close()

    print("pocketshop worker: running timed jobs and the outbox; Ctrl-C stops.", flush=True)
    asyncio.run(run())
    return 0


def _run_in_transaction(settings: Settings, work: Any, *, write: bool = True) -> Any:
    """Run `work(session)` in one transaction of a database of its own (a CLI command's)."""
    from pocketshop.db import Database

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            async with db.transaction(write=write) as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


def cmd_ledger_check(_args: argparse.Namespace) -> int:
    """Every invariant of the ledger; exit 1 when one does not hold."""
    from pocketshop.ledger import service as ledger

    async def check(session: Any) -> tuple[list[str], dict[str, int]]:
        return await ledger.check(session), await ledger.sizes(session)

    problems, sizes = _run_in_transaction(_settings(), check, write=False)
    for problem in problems:
        print(f"ledger: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"ledger: {sizes['transactions']} transactions, {sizes['postings']} postings, "
        f"{sizes['accounts']} accounts: every invariant holds"
    )
    return 0


def cmd_payment_anomalies(args: argparse.Namespace) -> int:
    """What the operator must look at, newest first: one line each."""
    from pocketshop.payments import anomalies

    async def read(session: Any) -> list[anomalies.Listed]:
        return await anomalies.listed(session, include_resolved=args.all, limit=args.limit)

    found = _run_in_transaction(_settings(), read, write=False)
    for one in found:
        anomaly = one.anomaly
        state = f"resolved {anomaly.resolved_at:%Y-%m-%d %H:%M}" if anomaly.resolved_at else "open"
        about = f" payment {one.out_trade_no} order {one.order_number}" if one.out_trade_no else ""
        details = json.dumps(anomaly.details, ensure_ascii=False, sort_keys=True)
        print(
            f"#{anomaly.id} {anomaly.created_at:%Y-%m-%d %H:%M} UTC {anomaly.provider} "
            f"{anomaly.kind} ({state}){about} {details}"
        )
    print(f"payments: {len(found)} {'anomalies' if args.all else 'open anomalies'}")
    return 0


def cmd_payment_resolve(args: argparse.Namespace) -> int:
    """Mark an anomaly looked into; exit 1 when there is none by that id, or it was resolved."""
    from pocketshop.errors import AppError
    from pocketshop.i18n import set_locale
    from pocketshop.payments import anomalies

    settings = _settings()
    set_locale(settings.default_locale)  # the operator reads refusals in the site's language

    async def resolve(session: Any) -> None:
        await anomalies.resolve(session, args.id)

    try:
        _run_in_transaction(settings, resolve)
    except AppError as refused:
        print(f"payments: {refused.message}", file=sys.stderr)
        return 1
    print(f"payments: anomaly #{args.id} resolved")
    return 0


def cmd_operators(args: argparse.Namespace) -> int:
    """Who decides after-sales disputes on /admin/disputes: add, remove or list them."""
    from pocketshop.accounts import service as accounts
    from pocketshop.errors import AppError

    settings = _settings()

    async def change(session: Any) -> list[str]:
        if args.operators_command != "list":
            phone = accounts.normalise_phone(args.phone, settings.default_phone_region)
            await accounts.set_operator(session, phone, on=args.operators_command == "add")
        return [user.phone or "" for user in await accounts.operators(session)]

    try:
        phones = _run_in_transaction(settings, change)
    except AppError as refused:
        print(f"operators: {refused.message}", file=sys.stderr)
        return 1
    print("\n".join(phones) if phones else "operators: none")
    return 0


def cmd_notifications_failed(args: argparse.Namespace) -> int:
    """Messages given up on (SMS, WeChat), newest first: what was not told, and why."""
    from pocketshop.notifications import service as notifications

    async def read(session: Any) -> list[str]:
        return [
            f"{delivery.id}\t{delivery.finished_at:%Y-%m-%d %H:%M}\t{event}\t{delivery.channel}"
            f"\t{delivery.address}\t{delivery.attempts} tries\t{delivery.last_error}"
            for delivery, event in await notifications.given_up(session, limit=args.limit)
        ]

    lines = _run_in_transaction(_settings(), read, write=False)
    print("\n".join(lines) if lines else "notifications: none given up")
    return 0


def cmd_payouts_list(args: argparse.Namespace) -> int:
    """Withdrawals not final yet, oldest first: what an operator paying by hand works on."""
    from pocketshop.money import format_fen
    from pocketshop.payments import withdrawals

    settings = _settings()

    async def read(session: Any) -> list[tuple[Any, str]]:
        found = await withdrawals.in_flight(session)
        numbers = [
            await withdrawals.card_number(session, settings, one) if args.show_numbers else ""
            for one in found
        ]
        return list(zip(found, numbers, strict=True))

    listed = _run_in_transaction(settings, read, write=False)
    for withdrawal, number in listed:
        card = number or f"****{withdrawal.card_last4}"
        print(
            f"{withdrawal.public_id} {withdrawal.created_at:%Y-%m-%d %H:%M} UTC "
            f"{format_fen(withdrawal.amount)} to {withdrawal.bank_code} {card} "
            f"{withdrawal.holder_name} ({withdrawal.status})"
        )
    print(f"payouts: {len(listed)} on their way")
    return 0


def cmd_payouts_record(args: argparse.Namespace) -> int:
    """An operator's word on a withdrawal paid by hand; exit 1 when refused."""
    from pocketshop.errors import AppError
    from pocketshop.i18n import set_locale
    from pocketshop.payments import withdrawals

    settings = _settings()
    set_locale(settings.default_locale)
    paid = args.payouts_command == "paid"

    async def record(session: Any) -> None:
        await withdrawals.record_by_operator(
            session,
            args.id,
            paid=paid,
            reference=getattr(args, "reference", ""),
            why=getattr(args, "why", ""),
        )

    try:
        _run_in_transaction(settings, record)
    except AppError as refused:
        print(f"payouts: {refused.message}", file=sys.stderr)
        return 1
    print(f"payouts: {args.id} {'paid' if paid else 'failed, money back to the shop'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pocketshop", description="Pocketshop social commerce")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve")
    serve.add_argument("--host", default=os.environ.get("POCKETSHOP_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("POCKETSHOP_ACCESS_LOG", "").lower() in ("1", "true", "yes"),
        help="log every request (default: off, or POCKETSHOP_ACCESS_LOG=true)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="proxies trusted for X-Forwarded-For/-Proto (comma-separated, or *)",
    )
    serve.set_defaults(run=cmd_serve)

    demo = commands.add_parser("demo", help="a fresh, seeded SQLite demo on 127.0.0.1:8000")
    demo.add_argument("--db", default="pocketshop-demo.db", help="SQLite file (recreated)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(run=cmd_demo)

    commands.add_parser(
        "worker", help="run timed jobs and the outbox apart from the server"
    ).set_defaults(run=cmd_worker)
    commands.add_parser("migrate", help="upgrade the database to the newest schema").set_defaults(
        run=cmd_migrate
    )
    make = commands.add_parser("makemigration", help="autogenerate a revision (developers)")
    make.add_argument("-m", "--message", required=True)
    make.set_defaults(run=cmd_makemigration)
    ledger = commands.add_parser("ledger", help="the money ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_commands.add_parser(
        "check", help="verify every ledger invariant (exit 1 when one fails)"
    ).set_defaults(run=cmd_ledger_check)
    payments = commands.add_parser("payments", help="payments the operator looks after")
    payment_commands = payments.add_subparsers(dest="payments_command", required=True)
    listing = payment_commands.add_parser(
        "anomalies", help="what did not match our books (open ones, newest first)"
    )
    listing.add_argument("--all", action="store_true", help="resolved ones too")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(run=cmd_payment_anomalies)
    resolving = payment_commands.add_parser("resolve", help="mark an anomaly looked into")
    resolving.add_argument("id", type=int)
    resolving.set_defaults(run=cmd_payment_resolve)
    payouts = commands.add_parser("payouts", help="withdrawals paid by hand (manual backend)")
    payout_commands = payouts.add_subparsers(dest="payouts_command", required=True)
    listing = payout_commands.add_parser("list", help="withdrawals on their way, oldest first")
    listing.add_argument(
        "--show-numbers", action="store_true", help="full card numbers (to pay them by hand)"
    )
    listing.set_defaults(run=cmd_payouts_list)
    paid = payout_commands.add_parser("paid", help="a withdrawal reached its bank card")
    paid.add_argument("id")
    paid.add_argument("--reference", required=True, help="the bank's transfer reference")
    paid.set_defaults(run=cmd_payouts_record)
    failed = payout_commands.add_parser("failed", help="the bank refused a withdrawal")
    failed.add_argument("id")
    failed.add_argument("--why", required=True)
    failed.set_defaults(run=cmd_payouts_record)
    operators = commands.add_parser("operators", help="who decides after-sales disputes")
    operator_commands = operators.add_subparsers(dest="operators_command", required=True)
    for action, helped in (("add", "make a phone's user an operator"), ("remove", "no longer")):
        changing = operator_commands.add_parser(action, help=helped)
        changing.add_argument("phone")
        changing.set_defaults(run=cmd_operators)
    operator_commands.add_parser("list", help="the operators' phones").set_defaults(
        run=cmd_operators
    )
    told = commands.add_parser("notifications", help="messages to users")
    told_commands = told.add_subparsers(dest="notifications_command", required=True)
    failed_list = told_commands.add_parser("failed", help="messages given up on, newest first")
    failed_list.add_argument("--limit", type=int, default=100)
    failed_list.set_defaults(run=cmd_notifications_failed)
    commands.add_parser("version", help="print the version").set_defaults(run=cmd_version)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # A line per outgoing call (the sandbox provider's every notification) drowns the rest.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        code = 130
    return code


if __name__ == "__main__":
    sys.exit(main())

"""The sandbox provider: no real money, the same code path as a real one.

It plays both sides. As the provider, it keeps its own books (`SandboxTransaction`), shows a
hosted pay page with Pay and Fail buttons (sandbox_pages.py), and sends signed asynchronous
notifications to our callback over HTTP, retried on WeChat Pay's schedule until answered 2xx.
As our adapter (`SandboxProvider`), it verifies those notifications exactly as the WeChat Pay
adapter does: signature, key serial, a timestamp within five minutes.

Signature: base64 HMAC-SHA256, under a key derived from the instance secret, of
"<timestamp>\\n<nonce>\\n<body>\\n", in the Sandbox-Signature header with Sandbox-Timestamp,
Sandbox-Nonce and Sandbox-Serial.
"""

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pocketshop import clock
from pocketshop.config import Settings
from pocketshop.db import Database, table_of
from pocketshop.payments.models import SandboxRefund, SandboxTransaction
from pocketshop.payments.providers import (
    Channel,
    Notice,
    NoticeRejected,
    NoticeState,
    PayRequest,
    Prepay,
    RefundRequest,
    RefundResult,
    RefundState,
    fresh,
)

log = logging.getLogger(__name__)

NAME = "sandbox"
MERCHANT = "sandbox-merchant"
SERIAL = "SANDBOX-KEY-1"
CLAIM = timedelta(seconds=60)
TRADE_STATES = {
    "SUCCESS": NoticeState.paid,
    "PAYERROR": NoticeState.failed,
    "CLOSED": NoticeState.closed,
    "NOTPAY": NoticeState.pending,
}


def signing_key(settings: Settings) -> bytes:
    return hmac.new(
        settings.secrets.secret_key.encode(), b"pocketshop sandbox notifications", hashlib.sha256
    ).digest()


def sign(settings: Settings, timestamp: str, nonce: str, body: bytes) -> str:
    message = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    digest = hmac.new(signing_key(settings), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_headers(settings: Settings, body: bytes) -> dict[str, str]:
    timestamp = str(int(clock.now().timestamp()))
    nonce = secrets.token_hex(16)
    return {
        "Content-Type": "application/json",
        "Sandbox-Serial": SERIAL,
        "Sandbox-Timestamp": timestamp,
        "Sandbox-Nonce": nonce,
        "Sandbox-Signature": sign(settings, timestamp, nonce, body),
    }


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def notice_body(transaction: SandboxTransaction) -> bytes:
    """A notification as the sandbox sends it: WeChat Pay's shape, its resource in the clear."""
    return json.dumps(
        {
            "id": f"{transaction.transaction_id}-{transaction.state}",
            "create_time": _iso(clock.now()),
            "event_type": f"TRANSACTION.{transaction.state}",
            "resource_type": "sandbox-resource",
            "resource": {
                "mchid": MERCHANT,
                "out_trade_no": transaction.out_trade_no,
                "transaction_id": transaction.transaction_id,
                "trade_state": transaction.state,
                "success_time": _iso(transaction.paid_at),
                "amount": {"total": transaction.amount, "currency": transaction.currency},
            },
        },
        separators=(",", ":"),
    ).encode()


# --- the adapter: our side ------------------------------------------------------------------


class SandboxProvider:
    """Our adapter to the sandbox. The sandbox keeps its books in our database, in
    transactions of its own, as a remote provider keeps them on its side: so it is called
    outside any transaction of ours, like the others."""

    name = NAME
    channels: tuple[Channel, ...] = (Channel.page,)

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.identity: Mapping[str, str] = {"mchid": MERCHANT}

    async def prepay(self, request: PayRequest) -> Prepay:
        await self.db.insert_alone(table_of(SandboxTransaction), _new_transaction(request))
        return Prepay(redirect_url=f"/sandbox/pay/{request.out_trade_no}")

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice:
        if headers.get("sandbox-serial") != SERIAL:
            raise NoticeRejected("unknown key serial")
        timestamp = headers.get("sandbox-timestamp", "")
        if not fresh(timestamp):
            raise NoticeRejected("stale timestamp")
        expected = sign(self.settings, timestamp, headers.get("sandbox-nonce", ""), body)
        if not hmac.compare_digest(expected, headers.get("sandbox-signature", "")):
            raise NoticeRejected("bad signature")
        try:
            resource = json.loads(body)["resource"]
            state = TRADE_STATES[resource["trade_state"]]
            return Notice(
                kind="payment",
                state=state,
                out_trade_no=str(resource["out_trade_no"]),
                event_key=f"{resource['transaction_id']}:{resource['trade_state']}",
                transaction_id=str(resource["transaction_id"]),
                amount=int(resource["amount"]["total"]),
                currency=str(resource["amount"]["currency"]),
                identity={"mchid": str(resource["mchid"])},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise NoticeRejected("unreadable notice", status_code=400) from exc

    async def query(self, out_trade_no: str) -> Notice | None:
        async with self.db.transaction() as session:
            transaction = await _expired(session, out_trade_no)
        if transaction is None:
            return None
        return Notice(
            kind="payment",
            state=TRADE_STATES[transaction.state],
            out_trade_no=out_trade_no,
            event_key=f"{transaction.transaction_id}:{transaction.state}",
            transaction_id=transaction.transaction_id,
            amount=transaction.amount,
            currency=transaction.currency,
            identity={"mchid": MERCHANT},
        )

    async def close(self, out_trade_no: str) -> None:
        async with self.db.transaction() as session:
            transaction = await find(session, out_trade_no)
            if transaction is not None and transaction.state == "NOTPAY":
                transaction.state = "CLOSED"

    async def refund(self, request: RefundRequest) -> RefundResult:
        async with self.db.transaction() as session:
            existing = await _refund_by_number(session, request.out_refund_no)
            if existing is not None:  # the same refund asked again: the same answer
                return _refund_result(existing)
            transaction = await find(session, request.out_trade_no)
            refunded = sum(
                await session.scalars(
                    select(SandboxRefund.amount).where(
                        SandboxRefund.out_trade_no == request.out_trade_no
                    )
                )
            )
            if (
                transaction is None
                or transaction.state != "SUCCESS"
                or transaction.currency != request.currency
                or not 0 < request.amount <= transaction.amount - refunded
            ):
                # As WeChat Pay answers 400 INVALID_REQUEST: refused, nothing booked.
                return RefundResult(RefundState.refused, failure="INVALID_REQUEST")
            made = SandboxRefund(
                out_refund_no=request.out_refund_no,
                refund_id=f"SBR{secrets.token_hex(12).upper()}",
                out_trade_no=request.out_trade_no,
                amount=request.amount,
                state="SUCCESS",
                created_at=clock.now(),
            )
            session.add(made)
        return _refund_result(made)

    async def query_refund(self, request: RefundRequest) -> RefundResult:
        async with self.db.transaction(write=False) as session:
            found = await _refund_by_number(session, request.out_refund_no)
        if found is None:
            return RefundResult(RefundState.not_found)
        return _refund_result(found)

    def acknowledge(self) -> Response:
        return JSONResponse({"code": "SUCCESS", "message": ""})

    def refuse(self, reason: str, status_code: int) -> Response:
        return JSONResponse({"code": "FAIL", "message": reason}, status_code=status_code)


def _refund_result(refund: SandboxRefund) -> RefundResult:
    return RefundResult(RefundState.refunded, refund_id=refund.refund_id)


async def _refund_by_number(session: AsyncSession, out_refund_no: str) -> SandboxRefund | None:
    return await session.scalar(
        select(SandboxRefund).where(SandboxRefund.out_refund_no == out_refund_no)
    )


# --- the provider's side --------------------------------------------------------------------


async def find(session: AsyncSession, out_trade_no: str) -> SandboxTransaction | None:
    return await session.scalar(
        select(SandboxTransaction).where(SandboxTransaction.out_trade_no == out_trade_no)
    )


async def _expired(session: AsyncSession, out_trade_no: str) -> SandboxTransaction | None:
    """The trade, closed first if it was left unpaid past its deadline (as WeChat Pay closes
    a trade at its time_expire)."""
    transaction = await find(session, out_trade_no)
    if (
        transaction is not None
        and transaction.state == "NOTPAY"
        and transaction.expires_at is not None
        and transaction.expires_at <= clock.now()
    ):
        transaction.state = "CLOSED"
    return transaction


def _new_transaction(request: PayRequest) -> dict[str, Any]:
    """The provider's order for this payment (one already there is kept as it was)."""
    return {
        "out_trade_no": request.out_trade_no,
        "transaction_id": f"SB{secrets.token_hex(14).upper()}",
        "description": request.description[:128],
        "amount": request.amount,
        "currency": request.currency,
        "notify_url": request.notify_url,
        "return_url": request.return_url,
        "state": "NOTPAY",
        "created_at": clock.now(),
        "expires_at": request.expires_at,
        "notify_attempts": 0,
    }


async def buyer_acts(
    session: AsyncSession, out_trade_no: str, *, pay: bool
) -> SandboxTransaction | None:
    """The buyer pressed Pay (or Fail) on the hosted page: the provider settles the trade
    and owes our callback a notification, due now. Only an unpaid trade within its deadline
    moves."""
    transaction = await _expired(session, out_trade_no)
    if transaction is None or transaction.state != "NOTPAY":
        return transaction
    now = clock.now()
    await session.execute(
        update(SandboxTransaction)
        .where(SandboxTransaction.id == transaction.id, SandboxTransaction.state == "NOTPAY")
        .values(
            state="SUCCESS" if pay else "PAYERROR",
            paid_at=now if pay else None,
            notify_at=now,
            notify_attempts=0,
        )
        .execution_options(synchronize_session=False)
    )
    await session.refresh(transaction)
    return transaction


async def deliver_due(
    db: Database, settings: Settings, http: httpx.AsyncClient, *, limit: int = 100
) -> int:
    """Send the notifications that are due; each claimed by one conditional UPDATE, so two
    workers never send the same try. Outside any transaction while the request is in flight
    (the callback writes to the same database)."""
    delivered = 0
    async with db.transaction(write=False) as session:
        due = list(
            await session.scalars(
                select(SandboxTransaction.id)
                .where(SandboxTransaction.notify_at <= clock.now())
                .order_by(SandboxTransaction.notify_at)
                .limit(limit)
            )
        )
    for transaction_id in due:
        claimed = await _claim(db, transaction_id)
        if claimed is None:
            continue
        body = notice_body(claimed)
        try:
            answer = await http.post(
                claimed.notify_url, content=body, headers=signed_headers(settings, body)
            )
            answered = 200 <= answer.status_code < 300
        except httpx.HTTPError:
            log.warning("sandbox: notification to %s failed", claimed.notify_url, exc_info=True)
            answered = False
        await _record_try(db, settings, claimed, answered)
        delivered += answered
    return delivered


async def _claim(db: Database, transaction_id: int) -> SandboxTransaction | None:
    now = clock.now()
    async with db.transaction() as session:
        result = await session.execute(
            update(SandboxTransaction)
            .where(SandboxTransaction.id == transaction_id, SandboxTransaction.notify_at <= now)
            .values(notify_at=now + CLAIM)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await session.get(SandboxTransaction, transaction_id)


async def _record_try(
    db: Database, settings: Settings, transaction: SandboxTransaction, answered: bool
) -> None:
    attempts = transaction.notify_attempts + 1
    schedule = settings.sandbox_notify_schedule
    if answered:
        values: dict[str, object] = {"notify_at": None, "notified_at": clock.now()}
    elif attempts <= len(schedule):
        values = {"notify_at": clock.now() + timedelta(seconds=schedule[attempts - 1])}
    else:
        values = {"notify_at": None}  # given up, as WeChat Pay does after 24 hours
    async with db.transaction() as session:
        await session.execute(
            update(SandboxTransaction)
            .where(SandboxTransaction.id == transaction.id)
            .values(notify_attempts=attempts, **values)
        )

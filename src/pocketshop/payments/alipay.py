"""Alipay, through `python-alipay-sdk` (RSA2): page pay (a computer) and WAP pay (a phone
browser); order queries, closes and refunds (`out_request_no` is Alipay's idempotency key).

The SDK signs and verifies; its calls are synchronous, so they run in a worker thread. A
notification is refused (401, nothing stored) unless the SDK verifies its RSA2 signature.
Alipay sends a notice again until it is answered "success", for about 25 hours, with the same
notify_id: so its age is no reason to refuse it. What it says is acted on once per trade state
(its event key is the trade number and state, or the refund's number; the notify_id is kept
with it). As Alipay's documentation asks, a notice must name our app_id and our seller_id (the
PID of the account paid): one that does not is for someone else, recorded for the operator,
never acted on (payments.service). A trade query's answer names neither (it is the answer to
our own signed call, under our app id).
"""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from alipay import AliPay
from alipay.exceptions import AliPayException
from fastapi.responses import PlainTextResponse, Response

from pocketshop import db
from pocketshop.config import Settings
from pocketshop.money import parse_yuan, yuan_text
from pocketshop.payments.providers import (
    Channel,
    Notice,
    NoticeRejected,
    NoticeState,
    PayRequest,
    Prepay,
    ProviderError,
    RefundRequest,
    RefundResult,
    RefundState,
)

log = logging.getLogger(__name__)

NAME = "alipay"
BEIJING = ZoneInfo("Asia/Shanghai")  # Alipay's times carry no zone: they are Beijing time
TRADE_STATES = {
    "TRADE_SUCCESS": NoticeState.paid,
    "TRADE_FINISHED": NoticeState.paid,
    "TRADE_CLOSED": NoticeState.closed,
    "WAIT_BUYER_PAY": NoticeState.pending,
}
PAY_METHODS = {
    Channel.page: ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    Channel.wap: ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
}
SUCCESS = "10000"
FAILED_BUSINESS = "40004"  # answered, refused for a reason the sub_code names
NO_SUCH_TRADE = "ACQ.TRADE_NOT_EXIST"  # the buyer never opened Alipay's page
# Refund refusals that stand however often it is asked; any other answer (20000 "service
# unavailable", ACQ.SYSTEM_ERROR, a balance too low...) leaves the outcome open: the refund
# is asked again later with the same out_request_no, which keeps it one refund.
FINAL_REFUND_REFUSALS = frozenset(
    {
        NO_SUCH_TRADE,
        "ACQ.TRADE_STATUS_ERROR",
        "ACQ.TRADE_NOT_ALLOW_REFUND",
        "ACQ.TRADE_HAS_FINISHED",
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
        "ACQ.REFUND_FEE_ERROR",
        "ACQ.REASON_TRADE_REFUND_FEE_ERR",
        "ACQ.DISCORDANT_REPEAT_REQUEST",
        "ACQ.ONLINE_TRADE_VOUCHER_NOT_ALLOW_REFUND",
    }
)


class AlipayProvider:
    name = NAME
    channels: tuple[Channel, ...] = (Channel.wap, Channel.page)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.identity: Mapping[str, str] = {
            "app_id": settings.alipay_appid,
            "seller_id": settings.alipay_seller_id,
        }
        self.client = AliPay(
            appid=settings.alipay_appid,
            app_private_key_string=settings.alipay_app_private_key,
            alipay_public_key_string=settings.alipay_public_key,
            sign_type="RSA2",
        )
        # The SDK knows two gateways (live, sandbox); ours is a setting (a test's local fake).
        self.client._gateway = settings.alipay_gateway

    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        """An SDK call in a worker thread: its signed, verified answer, whose `code` says
        how it went. An unsigned answer (a gateway error), or none, is a ProviderError."""
        db.outside_transaction(f"alipay {method}")
        try:
            answer: dict[str, Any] = await asyncio.to_thread(getattr(self.client, method), **params)
        except AliPayException as exc:
            raise ProviderError(f"alipay {method}: {exc}") from exc
        except Exception as exc:  # network, or an answer that does not verify
            raise ProviderError(f"alipay {method}: {exc!r}") from exc
        return answer

    async def prepay(self, request: PayRequest) -> Prepay:
        method, product = PAY_METHODS[request.channel]
        signed = self.client.client_api(
            method,
            biz_content={
                "subject": request.description[:256],
                "out_trade_no": request.out_trade_no,
                "total_amount": yuan_text(request.amount),
                "product_code": product,
                # Beijing time; unpaid by then, Alipay closes the trade.
                "time_expire": request.expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            },
            return_url=request.return_url,
            notify_url=request.notify_url,
        )
        return Prepay(redirect_url=f"{self.settings.alipay_gateway}?{signed}")

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice:
        try:
            data = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise NoticeRejected("unreadable notice", status_code=400) from exc
        signature = data.pop("sign", "")
        try:
            verified = bool(signature) and self.client.verify(dict(data), signature)
        except Exception as exc:  # the SDK's own refusals (an unknown sign type...)
            raise NoticeRejected(f"not verified: {exc}") from exc
        if not verified:
            raise NoticeRejected("bad signature")
        try:
            return _notice(data)
        except (KeyError, ValueError) as exc:
            raise NoticeRejected("unreadable notice", status_code=400) from exc

    async def query(self, out_trade_no: str) -> Notice | None:
        answer = await self._call("api_alipay_trade_query", out_trade_no=out_trade_no)
        if answer.get("sub_code") == NO_SUCH_TRADE:
            return None
        try:
            if answer.get("code") != SUCCESS:
                raise ValueError("not answered")
            # It names no app or seller: it answers our own call, made under our app id.
            return _notice(answer, identity={"app_id": self.settings.alipay_appid})
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"alipay query answered {answer}") from exc

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid trade. Alipay opens a trade only when the buyer opens its page
        (before that it answers ACQ.TRADE_NOT_EXIST, and the deadline it was given still
        holds); a paid or finished one it refuses (ACQ.TRADE_STATUS_ERROR): the query says."""
        answer = await self._call("api_alipay_trade_close", out_trade_no=out_trade_no)
        if answer.get("code") not in (SUCCESS, FAILED_BUSINESS):
            raise ProviderError(f"alipay close answered {answer}")

    async def refund(self, request: RefundRequest) -> RefundResult:
        answer = await self._call(
            "api_alipay_trade_refund",
            refund_amount=yuan_text(request.amount),
            out_trade_no=request.out_trade_no,
            out_request_no=request.out_refund_no,
        )
        refusal = str(answer.get("sub_code") or answer.get("code", ""))
        if answer.get("code") != SUCCESS:
            if refusal in FINAL_REFUND_REFUSALS:
                return RefundResult(RefundState.refused, failure=refusal)
            return RefundResult(RefundState.unknown, failure=refusal)
        if answer.get("fund_change") == "Y":
            return RefundResult(RefundState.refunded, refund_id=request.out_refund_no)
        # Taken, but no money moved this time (refunded by an earlier ask, or not yet): the
        # refund query says, asked at least 10 seconds later as Alipay advises.
        return RefundResult(RefundState.processing)

    async def query_refund(self, request: RefundRequest) -> RefundResult:
        found = await self._call(
            "api_alipay_trade_fastpay_refund_query",
            out_request_no=request.out_refund_no,
            out_trade_no=request.out_trade_no,
        )
        if found.get("code") != SUCCESS:
            raise ProviderError(f"alipay refund query answered {found}")
        status = found.get("refund_status")
        # Data about the refund with no status (older answers) or REFUND_SUCCESS: refunded.
        about_it = bool(found.get("out_request_no") or found.get("refund_amount"))
        if status == "REFUND_SUCCESS" or (about_it and not status):
            return RefundResult(RefundState.refunded, refund_id=request.out_refund_no)
        if status == "REFUND_PROCESSING":
            return RefundResult(RefundState.processing)
        # Nothing found: never taken (or failed); asked again with the same out_request_no.
        return RefundResult(RefundState.not_found)

    def acknowledge(self) -> Response:
        return PlainTextResponse("success")

    def refuse(self, reason: str, status_code: int) -> Response:
        return PlainTextResponse("fail", status_code=status_code)


def _notice(data: Mapping[str, str], identity: Mapping[str, str] | None = None) -> Notice:
    """A trade status (notification or query), or the refund a notification reports. A
    notification names whom it is for (app_id, seller_id: "" when left out, which is not us)."""
    trade_no = str(data["trade_no"])
    if identity is None:
        identity = {name: str(data.get(name, "")) for name in ("app_id", "seller_id")}
    message_id = str(data.get("notify_id", ""))
    if data.get("out_biz_no") and data.get("refund_fee"):
        return Notice(
            kind="refund",
            state=NoticeState.refunded,
            out_trade_no=str(data["out_trade_no"]),
            event_key=f"{trade_no}:refund:{data['out_biz_no']}",
            transaction_id=trade_no,
            # refund_fee is the trade's refunds so far, not this one's: no amount to check.
            amount=None,
            currency="CNY",
            identity=identity,
            out_refund_no=str(data["out_biz_no"]),
            message_id=message_id,
        )
    status = str(data["trade_status"])
    return Notice(
        kind="payment",
        state=TRADE_STATES[status],
        out_trade_no=str(data["out_trade_no"]),
        event_key=f"{trade_no}:{status}",
        transaction_id=trade_no,
        amount=parse_yuan(str(data["total_amount"])),
        currency="CNY",
        identity=identity,
        message_id=message_id,
    )

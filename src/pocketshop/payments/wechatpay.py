"""WeChat Pay (API v3), through the `wechatpayv3` package, with the platform public key.

Prepay for JSAPI (inside WeChat: the buyer's openid), H5 (a phone browser) and Native (a QR
code); order queries, closes and refunds (`out_refund_no` is WeChat's idempotency key).

Every trade is given its order's deadline (`time_expire`): WeChat Pay's own default is days.
Refund outcomes come from the refund query (`GET /v3/refund/domestic/refunds/{no}`), as
WeChat Pay asks: a refund's POST answers only whether it was taken.

A notification is refused (401, nothing stored) unless: it is not a signature probe
(`WECHATPAY/SIGNTEST/`), its serial is our configured platform public-key id, its timestamp is
within five minutes, and the library verifies its RSA signature and decrypts its resource
(AES-256-GCM under the APIv3 key). Any exception from the library is a refusal too.
"""

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import JSONResponse, Response
from wechatpayv3.async_ import AsyncWeChatPay, SignType, WeChatPayType

from pocketshop import db
from pocketshop.config import Settings
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
    fresh,
)

NAME = "wechatpay"
PROBE = "WECHATPAY/SIGNTEST/"
TRADE_STATES = {
    "SUCCESS": NoticeState.paid,
    "PAYERROR": NoticeState.failed,
    "CLOSED": NoticeState.closed,
    "REVOKED": NoticeState.closed,
    "NOTPAY": NoticeState.pending,
    "USERPAYING": NoticeState.pending,
    # Paid, then (partly) refunded at WeChat Pay: asked about a payment we think open, it
    # means refunds we did not make; the operator is told.
    "REFUND": NoticeState.refunded_elsewhere,
}
REFUND_STATES = {
    "SUCCESS": RefundState.refunded,
    "ABNORMAL": RefundState.stuck,
    "CLOSED": RefundState.refused,
    "PROCESSING": RefundState.processing,
}
NOTICE_REFUND_STATES = {
    "SUCCESS": NoticeState.refunded,
    "ABNORMAL": NoticeState.refund_stuck,
    "CLOSED": NoticeState.refund_failed,
    "PROCESSING": NoticeState.refund_processing,
}
# Refund refusals that stand however often it is asked: the request itself is wrong (more
# than was paid, a trade not paid), or the buyer's account can take no refund. Every other
# answer (SYSTEM_ERROR, FREQUENCY_LIMITED, NOT_ENOUGH, SIGN_ERROR from a skewed clock, a
# RESOURCE_NOT_EXISTS that a resend may not get, a timeout) leaves the outcome to the
# refund query; a retry uses the same out_refund_no, which WeChat Pay refunds once.
FINAL_REFUND_REFUSALS = frozenset({"PARAM_ERROR", "INVALID_REQUEST", "USER_ACCOUNT_ABNORMAL"})
BEIJING = ZoneInfo("Asia/Shanghai")
PAY_TYPES = {
    Channel.jsapi: WeChatPayType.JSAPI,
    Channel.h5: WeChatPayType.H5,
    Channel.native: WeChatPayType.NATIVE,
}


class WeChatPayProvider:
    name = NAME
    channels: tuple[Channel, ...] = (Channel.jsapi, Channel.h5, Channel.native)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.merchant = settings.wechatpay_mchid
        # Signs and verifies without the network (keys read once, a bad one refused at
        # start-up); a call to WeChat gets a client of its own (`_call`).
        self.signer = self._client()

    def _client(self) -> AsyncWeChatPay:
        client = AsyncWeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=self.settings.wechatpay_mchid,
            private_key=self.settings.wechatpay_private_key,
            cert_serial_no=self.settings.wechatpay_merchant_serial,
            appid=self.settings.wechatpay_appid,
            apiv3_key=self.settings.wechatpay_apiv3_key,
            public_key=self.settings.wechatpay_public_key,
            public_key_id=self.settings.wechatpay_public_key_id,
            timeout=(5, 15),
        )
        # The library has no option for its gateway; ours is a setting (a test's local fake).
        client._core._gate_way = self.settings.wechatpay_gateway.rstrip("/")
        return client

    async def _call(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        db.outside_transaction(f"wechatpay {method}")
        try:
            async with self._client() as client:
                code, message = await getattr(client, method)(**params)
        except Exception as exc:  # the library raises bare Exceptions for every failure
            raise ProviderError(f"wechatpay {method}: {exc}") from exc
        try:
            answer = json.loads(message) if message else {}
        except (TypeError, ValueError):
            answer = {"raw": str(message)[:200]}
        return int(code), answer

    async def prepay(self, request: PayRequest) -> Prepay:
        params: dict[str, Any] = {
            "description": request.description[:127],
            "out_trade_no": request.out_trade_no,
            "amount": {"total": request.amount, "currency": request.currency},
            "notify_url": request.notify_url,
            "pay_type": PAY_TYPES[request.channel],
            # RFC 3339 in Beijing time; without it WeChat Pay keeps the trade open for days.
            "time_expire": request.expires_at.astimezone(BEIJING).isoformat(timespec="seconds"),
        }
        if request.channel is Channel.jsapi:
            params["payer"] = {"openid": request.openid}
        if request.channel is Channel.h5:
            params["scene_info"] = {
                "payer_client_ip": request.client_ip,
                "h5_info": {"type": "Wap"},
            }
        code, answer = await self._call("pay", **params)
        if code != 200:
            raise ProviderError(f"wechatpay prepay answered {code}: {answer}")
        try:
            if request.channel is Channel.native:
                return Prepay(qr_url=str(answer["code_url"]))
            if request.channel is Channel.h5:
                return Prepay(redirect_url=str(answer["h5_url"]))
            return Prepay(jsapi=self.jsapi_params(str(answer["prepay_id"])))
        except KeyError as exc:
            raise ProviderError(f"wechatpay prepay answer without {exc}: {answer}") from exc

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """What WeixinJSBridge.invoke("getBrandWCPayRequest") takes, signed with our key."""
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        appid = self.settings.wechatpay_appid
        return {
            "appId": appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": self.signer.sign([appid, timestamp, nonce, package], SignType.RSA_SHA256),
        }

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> Notice:
        lowered = {key.lower(): value for key, value in headers.items()}
        if lowered.get("wechatpay-signature", "").startswith(PROBE):
            raise NoticeRejected("signature probe")
        if lowered.get("wechatpay-serial") != self.settings.wechatpay_public_key_id:
            raise NoticeRejected("unknown serial")
        if not fresh(lowered.get("wechatpay-timestamp", "")):
            raise NoticeRejected("stale timestamp")
        try:
            found = self.signer.callback(lowered, body)
        except Exception as exc:  # the library's own refusals: answered 401, not 500
            raise NoticeRejected(f"not verified: {exc}") from exc
        if not found:
            raise NoticeRejected("bad signature or resource")
        try:
            return self._notice(found)
        except (KeyError, TypeError, ValueError) as exc:
            raise NoticeRejected("unreadable resource", status_code=400) from exc

    def _notice(self, found: Mapping[str, Any]) -> Notice:
        resource = found["resource"]
        if str(found.get("event_type", "")).startswith("REFUND."):
            return Notice(
                kind="refund",
                state=NOTICE_REFUND_STATES[resource["refund_status"]],
                out_trade_no=str(resource["out_trade_no"]),
                event_key=f"{resource['refund_id']}:{resource['refund_status']}",
                transaction_id=str(resource.get("transaction_id", "")),
                amount=int(resource["amount"]["refund"]),
                currency="CNY",
                merchant=str(resource["mchid"]),
                out_refund_no=str(resource["out_refund_no"]),
            )
        return self._trade(resource)

    def _trade(self, resource: Mapping[str, Any]) -> Notice:
        amount = resource.get("amount", {})
        return Notice(
            kind="payment",
            state=TRADE_STATES[resource["trade_state"]],
            out_trade_no=str(resource["out_trade_no"]),
            event_key=f"{resource.get('transaction_id', resource['out_trade_no'])}:"
            f"{resource['trade_state']}",
            transaction_id=str(resource.get("transaction_id", "")),
            amount=int(amount["total"]) if "total" in amount else None,
            currency=str(amount.get("currency", "")),
            merchant=str(resource["mchid"]),
        )

    async def query(self, out_trade_no: str) -> Notice | None:
        code, answer = await self._call("query", out_trade_no=out_trade_no)
        if code == 404 and answer.get("code") in ("ORDER_NOT_EXIST", "ORDERNOTEXIST"):
            return None
        if code != 200:
            raise ProviderError(f"wechatpay query answered {code}: {answer}")
        try:
            return self._trade(answer)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"wechatpay query answer unreadable: {answer}") from exc

    async def close(self, out_trade_no: str) -> None:
        code, answer = await self._call("close", out_trade_no=out_trade_no)
        if code >= 500 or code == 429:
            raise ProviderError(f"wechatpay close answered {code}: {answer}")

    async def refund(self, request: RefundRequest) -> RefundResult:
        code, answer = await self._call(
            "refund",
            out_refund_no=request.out_refund_no,
            out_trade_no=request.out_trade_no,
            amount={"refund": request.amount, "total": request.total, "currency": request.currency},
            notify_url=request.notify_url or None,
        )
        if code == 200:
            return self._refund(answer)
        refusal = str(answer.get("code", code))
        if 400 <= code < 500 and refusal in FINAL_REFUND_REFUSALS:
            return RefundResult(RefundState.refused, failure=refusal)
        # Anything else may or may not have been taken: the refund query says.
        return RefundResult(RefundState.unknown, failure=refusal)

    async def query_refund(self, request: RefundRequest) -> RefundResult:
        code, answer = await self._call("query_refund", out_refund_no=request.out_refund_no)
        if code == 200:
            return self._refund(answer)
        if code == 404 and answer.get("code") == "RESOURCE_NOT_EXISTS":
            return RefundResult(RefundState.not_found)
        raise ProviderError(f"wechatpay refund query answered {code}: {answer}")

    def _refund(self, answer: Mapping[str, Any]) -> RefundResult:
        status = str(answer.get("status"))
        return RefundResult(
            REFUND_STATES.get(status, RefundState.unknown),
            refund_id=str(answer.get("refund_id", "")),
            failure=status if status in ("ABNORMAL", "CLOSED") else "",
        )

    def acknowledge(self) -> Response:
        return Response(status_code=204)

    def refuse(self, reason: str, status_code: int) -> Response:
        return JSONResponse({"code": "FAIL", "message": reason}, status_code=status_code)

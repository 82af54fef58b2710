"""WeChat Pay (API v3), through the `wechatpayv3` package, with the platform public key.

Prepay for JSAPI (inside WeChat: the buyer's openid), H5 (a phone browser, with the buyer's
own address as payer_client_ip) and Native (a QR code); order queries, closes and refunds
(`out_refund_no` is WeChat's idempotency key).

Every trade is given its order's deadline (`time_expire`): WeChat Pay's own default is days.
Refund outcomes come from the refund query (`GET /v3/refund/domestic/refunds/{no}`), as
WeChat Pay asks: a refund's POST answers only whether it was taken.

A notification is refused (401, nothing stored) unless: it is not a signature probe
(`WECHATPAY/SIGNTEST/`); its Wechatpay-Serial is our platform public-key id, or the serial
number of a platform certificate we were configured with (while a merchant moves from
certificates to the public key, WeChat Pay signs callbacks with either, at random, for a
week); its timestamp is within five minutes; its RSA-SHA256 signature of
"timestamp\nnonce\nbody\n" verifies with that key; and its resource decrypts (AES-256-GCM
under the APIv3 key). We verify it ourselves, with the keys loaded at start-up: the library
would fetch certificates over the network for a serial it does not know. A payment notice and
a query answer name our mchid and appid, a refund notice our mchid: anything else is for
someone else, and goes to the operator (payments.service).
"""

import base64
import json
import secrets
import string
import time
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.responses import JSONResponse, Response
from wechatpayv3.async_ import AsyncWeChatPay, SignType, WeChatPayType
from wechatpayv3.utils import load_public_key

from pocketshop import db
from pocketshop.config import ConfigurationError, Settings
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
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
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
        self.identity: Mapping[str, str] = {
            "mchid": settings.wechatpay_mchid,
            "appid": settings.wechatpay_appid,
        }
        # Keys read once, a bad one refused at start-up: notices are verified with these,
        # without the network. A call to WeChat gets a client of its own (`_call`).
        self.certificates = platform_certificates(settings.wechatpay_platform_certificates)
        self.signer = self._client()
        public_key = load_public_key(settings.wechatpay_public_key)
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ConfigurationError("POCKETSHOP_WECHATPAY_PUBLIC_KEY must be an RSA key")
        self.public_key = public_key

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
        # An answer signed with a platform certificate verifies without fetching them.
        client._core._certificates = list(self.certificates.values())
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
        signature = lowered.get("wechatpay-signature", "")
        if signature.startswith(PROBE):
            raise NoticeRejected("signature probe")
        key = self._key_of(lowered.get("wechatpay-serial", ""))
        if key is None:
            raise NoticeRejected("unknown serial")
        timestamp = lowered.get("wechatpay-timestamp", "")
        if not fresh(timestamp):
            raise NoticeRejected("stale timestamp")
        if lowered.get("wechatpay-signature-type") != SIGNATURE_TYPE:
            raise NoticeRejected("unknown signature type")
        signed = f"{timestamp}\n{lowered.get('wechatpay-nonce', '')}\n".encode() + body + b"\n"
        if not _verifies(key, signed, signature):
            raise NoticeRejected("bad signature")
        try:
            found = json.loads(body)
            found["resource"] = self._decrypted(found["resource"])
        except InvalidTag as exc:  # not sealed under our APIv3 key
            raise NoticeRejected("resource not decrypted") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise NoticeRejected("unreadable notice", status_code=400) from exc
        try:
            return self._notice(found)
        except (KeyError, TypeError, ValueError) as exc:
            raise NoticeRejected("unreadable resource", status_code=400) from exc

    def _key_of(self, serial: str) -> rsa.RSAPublicKey | None:
        """The key a notice says it is signed with: our platform public key by its id, or a
        configured platform certificate's by its serial number (hex); None for any other."""
        if serial == self.settings.wechatpay_public_key_id:
            return self.public_key
        if not serial or len(serial) > 64 or not set(serial) <= set(string.hexdigits):
            return None
        certificate = self.certificates.get(int(serial, 16))
        return _rsa_key(certificate) if certificate is not None else None

    def _decrypted(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        if resource["algorithm"] != "AEAD_AES_256_GCM":
            raise ValueError(f"unknown algorithm {resource['algorithm']}")
        plain = AESGCM(self.settings.wechatpay_apiv3_key.encode()).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(str(resource["ciphertext"]), validate=True),
            str(resource.get("associated_data") or "").encode(),
        )
        found: dict[str, Any] = json.loads(plain)
        return found

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
                # A refund notice names our merchant id only (it has no appid).
                identity={"mchid": str(resource["mchid"])},
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
            # Payment notices and query answers alike name both.
            identity={"mchid": str(resource["mchid"]), "appid": str(resource["appid"])},
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


def platform_certificates(pem: str) -> dict[int, x509.Certificate]:
    """WeChat Pay's platform certificates we were given, by serial number; a bad one refused
    at start-up."""
    if not pem.strip():
        return {}
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise ConfigurationError(
            f"POCKETSHOP_WECHATPAY_PLATFORM_CERTIFICATES holds no readable certificate: {exc}"
        ) from exc
    for certificate in certificates:
        if _rsa_key(certificate) is None:
            raise ConfigurationError(
                "POCKETSHOP_WECHATPAY_PLATFORM_CERTIFICATES: certificate "
                f"{certificate.serial_number:X} has no RSA key"
            )
    return {certificate.serial_number: certificate for certificate in certificates}


def _rsa_key(certificate: x509.Certificate) -> rsa.RSAPublicKey | None:
    key = certificate.public_key()
    return key if isinstance(key, rsa.RSAPublicKey) else None


def _verifies(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):  # ValueError: not base64
        return False
    return True

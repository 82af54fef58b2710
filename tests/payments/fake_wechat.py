"""A local fake of WeChat Pay's API v3, for the adapter's tests: no network.

Keys are made here: the merchant's RSA key (the fake checks every request's Authorization
signature with its public half), WeChat Pay's platform RSA key (the fake signs every answer
and notification with it; the adapter knows the public half and its id), and the APIv3 key
that encrypts notification resources (AES-256-GCM). For a merchant moving from platform
certificates to the public key, it also has platform certificates (self-signed here): during
the move WeChat Pay signs each callback with the public key or with a certificate's key, at
random, naming the certificate's serial number (hex) in Wechatpay-Serial. It keeps its own
books of trades and refunds, like the real one, and behaves as WeChat Pay's documentation says
(pay.weixin.qq.com/doc/v3/merchant, 普通商户):
- H5 prepay needs the buyer's address (`scene_info.payer_client_ip`, IPv4 or IPv6);
- a trade is given a deadline (`time_expire`, RFC 3339); unpaid by then it cannot be paid;
- close answers 204 No Content, for a trade it does not know too (as merchants report);
  closing a closed one answers 400 ORDER_CLOSED, and a paid one is not closed;
- a refund's POST answers only that it was taken (PROCESSING, as a rule), and a retry with
  the same out_refund_no refunds once; its outcome is read from the refund query (`GET
  /v3/refund/domestic/refunds/{out_refund_no}`: 404 RESOURCE_NOT_EXISTS when it has none);
- errors come as documented: 400 PARAM_ERROR / INVALID_REQUEST, 403 NOT_ENOUGH /
  USER_ACCOUNT_ABNORMAL, 404 RESOURCE_NOT_EXISTS, 429 FREQUENCY_LIMITED, 500 SYSTEM_ERROR.
"""

import base64
import ipaddress
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pocketshop import clock

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD********"
PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
AUTH_RE = re.compile(r'(\w+)="([^"]*)"')
# Refund answers a test can script: an error answered without taking the refund...
REFUSALS = {
    "NOT_ENOUGH": 403,
    "FREQUENCY_LIMITED": 429,
    "SYSTEM_ERROR": 500,
    "RESOURCE_NOT_EXISTS": 404,  # spurious: the trade is there, a resend goes through
    "USER_ACCOUNT_ABNORMAL": 403,
    "SIGN_ERROR": 401,
}
# ...or the refund taken, and the answer lost on the way back (a 500 instead).
TAKEN_ANSWER_LOST = "TAKEN_ANSWER_LOST"


def _pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(
        key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class PlatformCertificate:
    """A platform certificate (WeChat Pay's are issued by Tenpay.com's CA; this one signs
    itself) and its private key, which signs what WeChat Pay signs with it."""

    key: rsa.RSAPrivateKey = field(default_factory=_key)
    serial_number: int = field(default_factory=x509.random_serial_number)

    @property
    def serial(self) -> str:
        """As Wechatpay-Serial names it: the serial number in upper-case hex."""
        return f"{self.serial_number:040X}"

    def pem(self) -> str:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA"),
            ]
        )
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(self.serial_number)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=5 * 365))
            .sign(self.key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Trade:
    out_trade_no: str
    amount: int
    currency: str
    notify_url: str
    kind: str
    time_expire: str = ""
    state: str = "NOTPAY"
    transaction_id: str = ""
    payer_client_ip: str = ""
    payer_openid: str = ""  # JSAPI's payer
    # The app it was paid in: ours, unless a test says otherwise.
    appid: str = APPID

    def expired(self) -> bool:
        deadline = datetime.fromisoformat(self.time_expire) if self.time_expire else None
        return deadline is not None and deadline <= clock.now()


@dataclass
class FakeWeChatPay:
    merchant_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    platform_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    # The merchant's platform certificates, still in use while it moves to the public key.
    certificates: tuple[PlatformCertificate, ...] = field(
        default_factory=lambda: (PlatformCertificate(), PlatformCertificate())
    )
    apiv3_key: str = field(default_factory=lambda: secrets.token_hex(16))
    trades: dict[str, Trade] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    # How the next refund POSTs go, first first: a status it is booked with ("PROCESSING",
    # "SUCCESS", "ABNORMAL", "CLOSED"), an error code of REFUSALS answered without booking
    # it, or TAKEN_ANSWER_LOST. Empty: booked as PROCESSING, SUCCESS at its next query.
    refund_script: list[str] = field(default_factory=list)

    def settings(self, gateway: str) -> dict[str, Any]:
        """What the adapter is configured with (POCKETSHOP_WECHATPAY_*)."""
        return {
            "wechatpay_mchid": MCHID,
            "wechatpay_appid": APPID,
            "wechatpay_merchant_serial": MERCHANT_SERIAL,
            "wechatpay_private_key": _pem_private(self.merchant_key),
            "wechatpay_apiv3_key": self.apiv3_key,
            "wechatpay_public_key": _pem_public(self.platform_key.public_key()),
            "wechatpay_public_key_id": PUBLIC_KEY_ID,
            "wechatpay_platform_certificates": "".join(
                certificate.pem() for certificate in self.certificates
            ),
            "wechatpay_gateway": gateway,
        }

    # --- signatures ---------------------------------------------------------------------

    def signed_headers(
        self,
        body: str,
        *,
        timestamp: int | None = None,
        certificate: PlatformCertificate | None = None,
    ) -> dict[str, str]:
        """Signed with the platform public key's private half, or with a platform
        certificate's key, naming the key it was signed with."""
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = secrets.token_hex(16)
        key = certificate.key if certificate is not None else self.platform_key
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": _sign(key, f"{stamp}\n{nonce}\n{body}\n"),
            "Wechatpay-Serial": certificate.serial if certificate is not None else PUBLIC_KEY_ID,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def _answer(self, status: int, payload: dict[str, Any] | None = None) -> Response:
        body = json.dumps(payload) if payload is not None else ""
        return Response(
            body,
            status_code=status,
            media_type="application/json",
            headers=self.signed_headers(body),
        )

    def _authorized(self, request: Request, body: str) -> bool:
        scheme, _sep, fields = request.headers.get("authorization", "").partition(" ")
        parts = dict(AUTH_RE.findall(fields))
        if scheme != "WECHATPAY2-SHA256-RSA2048" or parts.get("mchid") != MCHID:
            return False
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        message = f"{request.method}\n{path}\n{parts['timestamp']}\n{parts['nonce_str']}\n{body}\n"
        try:
            self.merchant_key.public_key().verify(
                base64.b64decode(parts["signature"]),
                message.encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return False
        return parts.get("serial_no") == MERCHANT_SERIAL

    # --- the API --------------------------------------------------------------------------

    async def _route(self, request: Request) -> Response:
        body = (await request.body()).decode()
        self.requests.append(f"{request.method} {request.url.path}")
        if not self._authorized(request, body):
            return self._answer(401, {"code": "SIGN_ERROR", "message": "bad signature"})
        data = json.loads(body) if body else {}
        path = request.url.path
        if request.method == "POST" and (kind := path.removeprefix("/v3/pay/transactions/")) in (
            "native",
            "h5",
            "jsapi",
        ):
            return self._prepay(kind, data)
        if found := re.fullmatch(r"/v3/pay/transactions/out-trade-no/(\w+)/close", path):
            trade = self.trades.get(found.group(1))
            if trade is not None and trade.state == "CLOSED":
                return self._answer(400, {"code": "ORDER_CLOSED", "message": "订单已关闭"})
            if trade is not None and trade.state in ("SUCCESS", "REFUND"):
                return self._answer(400, {"code": "INVALID_REQUEST", "message": "订单已支付"})
            if trade is not None:
                trade.state = "CLOSED"
            return self._answer(204)
        if found := re.fullmatch(r"/v3/pay/transactions/out-trade-no/(\w+)", path):
            trade = self.trades.get(found.group(1))
            if trade is None:
                return self._answer(404, {"code": "ORDER_NOT_EXIST", "message": "no such order"})
            return self._answer(200, self.resource(trade))
        if path == "/v3/refund/domestic/refunds" and request.method == "POST":
            return self._refund(data)
        if found := re.fullmatch(r"/v3/refund/domestic/refunds/(\w+)", path):
            refund = self.refunds.get(found.group(1))
            if refund is None:
                return self._answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})
            if refund["status"] == "PROCESSING" and refund.pop("settles", False):
                refund["status"] = "SUCCESS"
            return self._answer(
                200, {key: value for key, value in refund.items() if key != "settles"}
            )
        return self._answer(404, {"code": "NOT_FOUND", "message": path})

    def _prepay(self, kind: str, data: dict[str, Any]) -> Response:
        if data.get("mchid") != MCHID or data.get("appid") != APPID:
            return self._answer(400, {"code": "PARAM_ERROR", "message": "mchid/appid"})
        number = data["out_trade_no"]
        existing = self.trades.get(number)
        deadline = str(data.get("time_expire", ""))
        if deadline and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", deadline):
            return self._answer(400, {"code": "PARAM_ERROR", "message": "time_expire"})
        payer_ip = str(data.get("scene_info", {}).get("payer_client_ip", ""))
        if kind == "h5":
            try:
                ipaddress.ip_address(payer_ip)
            except ValueError:
                return self._answer(400, {"code": "PARAM_ERROR", "message": "payer_client_ip"})
        # JSAPI下单: "payer.openid 必填: 用户在直连商户appid下的唯一标识".
        openid = str(data.get("payer", {}).get("openid", ""))
        if kind == "jsapi" and not openid:
            return self._answer(400, {"code": "PARAM_ERROR", "message": "payer.openid"})
        if existing is None:
            self.trades[number] = Trade(
                out_trade_no=number,
                amount=int(data["amount"]["total"]),
                currency=data["amount"].get("currency", "CNY"),
                notify_url=data["notify_url"],
                kind=kind,
                time_expire=deadline,
                payer_client_ip=payer_ip,
                payer_openid=openid,
            )
        elif existing.amount != int(data["amount"]["total"]):
            return self._answer(400, {"code": "INVALID_REQUEST", "message": "changed order"})
        token = secrets.token_hex(8)
        if kind == "native":
            return self._answer(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={token}"})
        if kind == "h5":
            url = f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{token}"
            return self._answer(200, {"h5_url": url})
        return self._answer(200, {"prepay_id": f"wx{token}"})

    def _refund(self, data: dict[str, Any]) -> Response:
        trade = self.trades.get(data.get("out_trade_no", ""))
        number = data["out_refund_no"]
        if number in self.refunds:  # the same out_refund_no again: the same refund
            return self._answer(200, self.refunds[number])
        script = self.refund_script.pop(0) if self.refund_script else "PROCESSING"
        if script in REFUSALS:
            return self._answer(REFUSALS[script], {"code": script, "message": script})
        refunded = sum(
            refund["amount"]["refund"]
            for refund in self.refunds.values()
            if refund["out_trade_no"] == data.get("out_trade_no")
        )
        amount = int(data["amount"]["refund"])
        if trade is None or trade.state not in ("SUCCESS", "REFUND"):
            return self._answer(400, {"code": "INVALID_REQUEST", "message": "not paid"})
        if amount > trade.amount - refunded:
            return self._answer(400, {"code": "PARAM_ERROR", "message": "refund exceeds paid"})
        self.refunds[number] = {
            "refund_id": f"50000{secrets.randbelow(10**20):020d}",
            "out_refund_no": number,
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "status": "PROCESSING" if script == TAKEN_ANSWER_LOST else script,
            "amount": {"refund": amount, "total": trade.amount, "currency": trade.currency},
            # A refund taken as PROCESSING finishes by the time it is asked about.
            "settles": script in ("PROCESSING", TAKEN_ANSWER_LOST),
        }
        trade.state = "REFUND"  # what WeChat's query says of a trade once refunded
        if script == TAKEN_ANSWER_LOST:
            return self._answer(500, {"code": "SYSTEM_ERROR", "message": "系统繁忙"})
        answer = {key: value for key, value in self.refunds[number].items() if key != "settles"}
        return self._answer(200, answer)

    def sent(self, kind: str, out_refund_no: str = "") -> int:
        """How many requests of a kind it got ("refund POST", "refund query", "close"...)."""
        patterns = {
            "refund POST": "POST /v3/refund/domestic/refunds",
            "refund query": f"GET /v3/refund/domestic/refunds/{out_refund_no}",
            "close": "POST /v3/pay/transactions/out-trade-no/",
            "query": "GET /v3/pay/transactions/out-trade-no/",
        }
        pattern = patterns[kind]
        return sum(
            request == pattern
            if kind == "refund POST"
            else request.startswith(pattern) and (kind != "close" or request.endswith("/close"))
            for request in self.requests
        )

    def app(self) -> Starlette:
        methods = ["GET", "POST"]
        return Starlette(routes=[Route("/{path:path}", self._route, methods=methods)])

    # --- the buyer, and WeChat's notifications ------------------------------------------

    def pay(self, out_trade_no: str) -> Trade:
        trade = self.trades[out_trade_no]
        if trade.state != "NOTPAY" or trade.expired():
            raise AssertionError(f"WeChat Pay would not take payment: {trade.state}")
        trade.state = "SUCCESS"
        trade.transaction_id = f"4200{secrets.randbelow(10**24):024d}"
        return trade

    def resource(self, trade: Trade, **changes: Any) -> dict[str, Any]:
        resource = {
            "mchid": MCHID,
            "appid": trade.appid,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": trade.kind.upper(),
            "trade_state": trade.state,
            "success_time": "2026-11-30T18:00:00+08:00",
            "amount": {"total": trade.amount, "currency": trade.currency},
        }
        resource.update(changes)
        return resource

    def refund_resource(self, out_refund_no: str, status: str, **changes: Any) -> dict[str, Any]:
        """The resource of a REFUND.* notification about a refund it booked."""
        refund = self.refunds[out_refund_no]
        refund["status"] = status
        return {
            "mchid": MCHID,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "success_time": "2026-11-30T18:30:00+08:00",
            "user_received_account": "招商银行信用卡0403",
            "amount": {
                "total": refund["amount"]["total"],
                "refund": refund["amount"]["refund"],
                "payer_total": refund["amount"]["total"],
                "payer_refund": refund["amount"]["refund"],
            },
            **changes,
        }

    def notification(
        self,
        resource: dict[str, Any],
        *,
        event_type: str = "TRANSACTION.SUCCESS",
        key: str | None = None,
        timestamp: int | None = None,
        certificate: PlatformCertificate | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A notification as WeChat Pay sends it: the resource encrypted under the APIv3 key
        (or another `key`), the whole body signed with the platform public key's private half
        (or with a platform `certificate`'s key)."""
        nonce = secrets.token_hex(6)
        associated = "transaction"
        ciphertext = AESGCM((key or self.apiv3_key).encode()).encrypt(
            nonce.encode(), json.dumps(resource).encode(), associated.encode()
        )
        body = json.dumps(
            {
                "id": secrets.token_hex(16),
                "create_time": "2026-11-30T18:00:01+08:00",
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": associated,
                    "nonce": nonce,
                },
            }
        )
        when = timestamp if timestamp is not None else int(clock.now().timestamp())
        return body.encode(), self.signed_headers(body, timestamp=when, certificate=certificate)

"""A local fake of Alipay's open API gateway, for the adapter's tests: no network.

Keys are made here: the app's RSA key (the fake checks every request's RSA2 signature with
its public half) and Alipay's RSA key (the fake signs its answers and notifications with it;
the adapter knows the public half). Its books hold trades and refunds, like the real one,
and it behaves as Alipay's documentation says (opendocs.alipay.com):
- a trade exists only once the buyer opens the cashier page; before that, query and close
  answer 40004 ACQ.TRADE_NOT_EXIST;
- a trade unpaid at its `time_expire` ("yyyy-MM-dd HH:mm:ss", Beijing time) is closed
  (TRADE_CLOSED) and cannot be paid;
- close refuses a trade that is not waiting for payment (ACQ.TRADE_STATUS_ERROR);
- a refund asked again with the same out_request_no answers fund_change N and refunds once;
  the refund query answers 10000 without refund_status when it has no such refund;
- a notification names the app (app_id) and the account paid (seller_id, its 2088… PID), and
  is sent again, with the same notify_id, until it is answered "success" (for about 25 h);
- a trade query's answer names neither app nor seller.
"""

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from pocketshop import clock
from pocketshop.money import parse_yuan, yuan_text

APP_ID = "2021000117667788"
# Canned answers to a refund call, booking nothing ("NO_FUND_CHANGE" books it but answers
# fund_change N; "UNSIGNED" answers an unsigned gateway error).
REFUND_SCRIPTS: dict[str, dict[str, str]] = {
    "SYSTEM_ERROR": {
        "code": "20000",
        "msg": "Service Currently Unavailable",
        "sub_code": "aop.ACQ.SYSTEM_ERROR",
    },
    "BUSY": {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR"},
    "BALANCE_LOW": {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    },
    "NOT_ALLOWED": {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "ACQ.TRADE_NOT_ALLOW_REFUND",
    },
}
SELLER_ID = "2088102177846880"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(
        key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()


def _content(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()))


@dataclass
class Trade:
    out_trade_no: str
    amount: int
    notify_url: str
    time_expire: str = ""
    status: str = "WAIT_BUYER_PAY"
    trade_no: str = ""

    def expire(self) -> None:
        """Alipay closes a trade left unpaid at its deadline."""
        if self.status == "WAIT_BUYER_PAY" and self.time_expire:
            deadline = datetime.strptime(self.time_expire, "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=ZoneInfo("Asia/Shanghai")
            )
            if deadline <= clock.now():
                self.status = "TRADE_CLOSED"


@dataclass
class FakeAlipay:
    app_key: rsa.RSAPrivateKey = field(default_factory=_key)
    alipay_key: rsa.RSAPrivateKey = field(default_factory=_key)
    trades: dict[str, Trade] = field(default_factory=dict)
    # out_request_no → (out_trade_no, amount)
    refunds: dict[str, tuple[str, int]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    # How the next refund calls go, first first (see REFUND_SCRIPTS); empty: done as asked.
    refund_script: list[str] = field(default_factory=list)
    # The refund query of older answers: the refund's data, without refund_status.
    query_without_status: bool = False

    def settings(self, gateway: str) -> dict[str, Any]:
        return {
            "alipay_appid": APP_ID,
            "alipay_seller_id": SELLER_ID,
            "alipay_app_private_key": self.app_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "alipay_public_key": self.alipay_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode(),
            "alipay_gateway": f"{gateway}/gateway.do",
        }

    def _verified(self, params: dict[str, str]) -> bool:
        signature = params.pop("sign", "")
        try:
            self.app_key.public_key().verify(
                base64.b64decode(signature),
                _content(params).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return False
        return params.get("app_id") == APP_ID

    def _answer(self, method: str, inner: dict[str, Any]) -> Response:
        key = method.replace(".", "_") + "_response"
        body = json.dumps(inner, separators=(",", ":"), ensure_ascii=False)
        signature = _sign(self.alipay_key, body)
        return Response(f'{{"{key}":{body},"sign":"{signature}"}}', media_type="application/json")

    async def _gateway(self, request: Request) -> Response:
        params = dict(request.query_params)
        if not self._verified(params):
            return Response('{"error_response":{"code":"40002","msg":"Invalid Signature"}}')
        method = params["method"]
        self.methods.append(method)
        biz = json.loads(params.get("biz_content", "{}"))
        if method in ("alipay.trade.page.pay", "alipay.trade.wap.pay"):
            number = biz["out_trade_no"]
            amount = parse_yuan(biz["total_amount"])
            assert amount is not None
            deadline = str(biz.get("time_expire", ""))
            self.trades.setdefault(number, Trade(number, amount, params["notify_url"], deadline))
            return HTMLResponse("<h1>支付宝收银台</h1>")
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._answer(
                method,
                {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"},
            )
        trade.expire()
        if method == "alipay.trade.query":
            return self._answer(
                method,
                {
                    "code": "10000",
                    "msg": "Success",
                    "trade_no": trade.trade_no,
                    "out_trade_no": trade.out_trade_no,
                    "trade_status": trade.status,
                    "total_amount": yuan_text(trade.amount),
                },
            )
        if method == "alipay.trade.close":
            if trade.status != "WAIT_BUYER_PAY":
                return self._answer(
                    method,
                    {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_STATUS_ERROR",
                    },
                )
            trade.status = "TRADE_CLOSED"
            return self._answer(method, {"code": "10000", "msg": "Success"})
        if method == "alipay.trade.refund":
            return self._refund(method, trade, biz)
        if method == "alipay.trade.fastpay.refund.query":
            found = self.refunds.get(biz["out_request_no"])
            answer: dict[str, Any] = {"code": "10000", "msg": "Success"}
            if found is not None:
                answer |= {"out_request_no": biz["out_request_no"]}
                answer |= {"refund_amount": yuan_text(found[1])}
                if not self.query_without_status:
                    answer |= {"refund_status": "REFUND_SUCCESS"}
            return self._answer(method, answer)
        return self._answer(method, {"code": "40004", "msg": "Business Failed"})

    def _refund(self, method: str, trade: Trade, biz: dict[str, Any]) -> Response:
        number = biz["out_request_no"]
        amount = parse_yuan(biz["refund_amount"]) or 0
        script = self.refund_script.pop(0) if self.refund_script else ""
        if script == "UNSIGNED":
            return Response('{"error_response":{"code":"20000","msg":"Service Unavailable"}}')
        if script in REFUND_SCRIPTS:
            return self._answer(method, REFUND_SCRIPTS[script])
        refunded = sum(
            paid for trade_no, paid in self.refunds.values() if trade_no == trade.out_trade_no
        )
        if number in self.refunds:
            change = "N"
        elif trade.status != "TRADE_SUCCESS" or amount > trade.amount - refunded:
            return self._answer(
                method,
                {
                    "code": "40004",
                    "msg": "Business Failed",
                    "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                },
            )
        else:
            self.refunds[number] = (trade.out_trade_no, amount)
            change = "N" if script == "NO_FUND_CHANGE" else "Y"
        return self._answer(
            method,
            {
                "code": "10000",
                "msg": "Success",
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "fund_change": change,
                "refund_fee": yuan_text(refunded + amount),
            },
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/gateway.do", self._gateway, methods=["GET", "POST"])])

    # --- the buyer, and Alipay's notifications -------------------------------------------

    def pay(self, out_trade_no: str) -> Trade:
        trade = self.trades[out_trade_no]
        trade.expire()
        if trade.status != "WAIT_BUYER_PAY":
            raise AssertionError(f"Alipay would not take payment: {trade.status}")
        trade.status = "TRADE_SUCCESS"
        trade.trade_no = f"2026113022001{secrets.randbelow(10**15):015d}"
        return trade

    def refund_notification(self, trade: Trade, out_request_no: str, **changes: str) -> bytes:
        """What Alipay posts after a refund: the trade, its refunds so far, this one's id."""
        refunded = sum(
            paid for trade_no, paid in self.refunds.values() if trade_no == trade.out_trade_no
        )
        return self.notification(
            trade,
            notify_type="trade_status_sync",
            out_biz_no=out_request_no,
            refund_fee=yuan_text(refunded),
            gmt_refund=clock.now()
            .astimezone(ZoneInfo("Asia/Shanghai"))
            .strftime("%Y-%m-%d %H:%M:%S.000"),
            **changes,
        )

    def notification(
        self, trade: Trade, *, leave_out: tuple[str, ...] = (), **changes: str
    ) -> bytes:
        """A notification as Alipay posts it (form-encoded, RSA2-signed without sign and
        sign_type); `changes` override fields, and fields named in `leave_out` are left out,
        before signing."""
        now = clock.now().astimezone(ZoneInfo("Asia/Shanghai"))
        params = {
            "notify_time": now.strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": APP_ID,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade.status,
            "total_amount": yuan_text(trade.amount),
            "seller_id": SELLER_ID,
            "gmt_payment": datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S"),
            **changes,
        }
        params = {name: value for name, value in params.items() if name not in leave_out}
        signed = {**params, "sign_type": "RSA2", "sign": _sign(self.alipay_key, _content(params))}
        return urlencode(signed).encode()

"""Security headers on every answer: pages, cached pages, the JSON API, errors, files, redirects.

Pages get a Content-Security-Policy that allows scripts and styles from this site only: no
inline script, no `on*=` handler, no inline `style` (the templates have none, and a test keeps
it so; scripts are static files, enhancing pages that work without them). Not even a nonce: the
page cache replays a rendered page to many visitors, and a replayed nonce protects nothing.
Styles are held as strictly as scripts because injected CSS can read a page's CSRF token out
through attribute selectors. Images may be `data:` URIs: the QR codes and the CSS icons.

Forms post here, but paying one redirects the browser to the provider, and Chromium checks
`form-action` on every redirect of a form post: each configured provider's pages are allowed.
`Referrer-Policy: strict-origin-when-cross-origin` still tells a provider which site the buyer
came from (WeChat Pay H5 refuses a payment with no Referer), without the page's address.

Any other answer (JSON, files, redirects) gets `default-src 'none'`: nothing it could be made
to run loads anything (an uploaded SVG opened on its own, say). The API's /docs and
/redoc load Swagger UI and ReDoc from this site (web/docs.py) with an inline script: they get
a policy of their own, allowing that script by its hash.
"""

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pocketshop.config import Settings

STRICT_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
# Where WeChat Pay's H5 page (`h5_url`) lives.
WECHATPAY_PAGES = ("https://wx.tenpay.com",)
HSTS = "max-age=31536000"  # a year; not includeSubDomains: other hosts of the domain are not ours
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)

Headers = list[tuple[bytes, bytes]]


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def form_targets(settings: Settings) -> list[str]:
    """Where a form post may end up: this site, and the pages of the providers it pays with."""
    targets = ["'self'"]
    own = _origin(settings.own_url)
    if own:
        targets.append(own)  # the sandbox's pay page sends the buyer back to `own_url`
    if "wechatpay" in settings.payment_providers:
        targets.extend(WECHATPAY_PAGES)
    if "alipay" in settings.payment_providers:
        gateway = urlsplit(settings.alipay_gateway)
        # The gateway sends the buyer on to Alipay's cashier on another host of its domain.
        domain = ".".join((gateway.hostname or "").split(".")[-2:])
        targets.extend([f"{gateway.scheme}://{gateway.netloc}", f"{gateway.scheme}://*.{domain}"])
    return list(dict.fromkeys(targets))


def page_policy(settings: Settings) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            # WeChat's JS-SDK loads from WeChat's own host only (wechat.js, inside WeChat).
            "script-src 'self'" + (" https://res.wx.qq.com" if settings.wechat_sign_in else ""),
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action " + " ".join(form_targets(settings)),
            "frame-ancestors 'none'",
        ]
    )


def docs_policy(inline_scripts: Iterable[bytes]) -> str:
    """Swagger UI and ReDoc from this site; both style what they render inline, and ReDoc
    works in a blob: worker."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in inline_scripts
    )
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {hashes}".rstrip(),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "worker-src blob:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def common_headers(settings: Settings) -> Headers:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers without CSP 2
    ]
    if settings.public_base_url.lower().startswith("https://"):
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def _is_html(headers: Headers) -> bool:
    return any(
        name.lower() == b"content-type" and value.lower().startswith(b"text/html")
        for name, value in headers
    )


def with_security_headers(headers: Headers, common: Headers, page_csp: bytes) -> Headers:
    """`headers` plus those of `common` and a CSP that it does not set itself."""
    csp = page_csp if _is_html(headers) else STRICT_POLICY.encode()
    present = {name.lower() for name, _value in headers}
    added = [
        (name, value)
        for name, value in [*common, (b"content-security-policy", csp)]
        if name not in present
    ]
    return [*headers, *added]


def secure_response(response: Response, settings: Settings) -> None:
    """The headers, on an answer made outside the middleware stack (`errors.server_error`)."""
    raw = with_security_headers(
        list(response.raw_headers), common_headers(settings), page_policy(settings).encode()
    )
    response.raw_headers[:] = raw


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP answer.

    Install it outermost (add it last), so that it also covers what `CachedPages` answers
    before routing.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.common = common_headers(settings)
        self.page_csp = page_policy(settings).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = with_security_headers(
                    list(message.get("headers", [])), self.common, self.page_csp
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secured)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Holds the (small) docs page back until its body is known, to hash its scripts."""
        start: Message | None = None
        body = bytearray()

        async def send_held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            policy = docs_policy(_INLINE_SCRIPT.findall(bytes(body))).encode()
            headers = with_security_headers(list(start.get("headers", [])), self.common, policy)
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, send_held)

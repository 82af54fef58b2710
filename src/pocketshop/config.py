"""Settings from the environment (prefix POCKETSHOP_) or a .env file, with working defaults."""

import json
import os
import re
import secrets
import time
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    demo = "demo"
    test = "test"
    production = "production"


class ConfigurationError(RuntimeError):
    """Raised at start-up when settings cannot work; the message says which one."""


WECHATPAY_REQUIRED = (
    "wechatpay_mchid",
    "wechatpay_appid",
    "wechatpay_merchant_serial",
    "wechatpay_private_key",
    "wechatpay_apiv3_key",
    "wechatpay_public_key",
    "wechatpay_public_key_id",
)


ALIPAY_REQUIRED = (
    "alipay_appid",
    "alipay_seller_id",
    "alipay_app_private_key",
    "alipay_public_key",
)
# An Alipay account's PID (合作伙伴身份), what its notices name as seller_id.
ALIPAY_PID = re.compile(r"2088\d{12}")
DEFAULT_OWN_URL = "http://127.0.0.1:8000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="POCKETSHOP_", env_file=".env", extra="ignore", frozen=True
    )

    env: Environment = Environment.development
    database_url: str = Field(
        default="sqlite+aiosqlite:///./pocketshop.db",
        validation_alias="DATABASE_URL",
    )
    # Where secrets are generated and kept when not given, and where uploads go.
    instance_dir: Path = Path("instance")
    media_dir: Path | None = None
    # Signs cookies and hashes SMS codes; generated into instance_dir unless set.
    secret_key: str | None = None
    # Fernet key that encrypts bank cards and ID numbers at rest.
    data_key: str | None = None
    # Used for links and QR codes (the request's own host when empty), and for the addresses
    # providers call back and send buyers back to (never the request's Host header: the
    # server's own address when empty, see `own_url`).
    public_base_url: str = ""
    cookie_secure: bool = False
    session_days: int = 30
    default_locale: str = "zh_CN"
    default_timezone: str = "Asia/Shanghai"
    default_phone_region: str = "CN"
    # A font file with Chinese glyphs for share posters; empty: Noto Sans CJK where Debian's
    # fonts-noto-cjk puts it, else fontconfig's match for Chinese.
    poster_font: str = ""

    sms_backend: str = "console"
    sms_code_ttl_seconds: int = 300
    sms_code_max_attempts: int = 5
    sms_resend_seconds: int = 60
    sms_hourly_cap_per_phone: int = 5
    sms_hourly_cap_per_ip: int = 20
    # Lookups by order, payment or payment-request number that find nothing, per window:
    # a buyer mistypes a number now and then; a guesser needs thousands. Many buyers can
    # share one address (a carrier's NAT), so an IP gets more than a user.
    lookup_window_seconds: int = Field(default=600, ge=1)
    lookup_misses_per_user: int = Field(default=20, ge=1)
    lookup_misses_per_ip: int = Field(default=100, ge=1)

    logo_max_bytes: int = 2 * 1024 * 1024
    # Whole request bodies, checked before anything is parsed: a few phone photos and the
    # form around them.
    max_request_bytes: int = 16 * 1024 * 1024
    logo_max_pixels: int = 4096 * 4096
    logo_size: int = 512
    product_image_max_bytes: int = 8 * 1024 * 1024
    product_image_max_pixels: int = 8192 * 8192
    product_image_size: int = 1200
    product_thumb_size: int = 400

    # Orders: unpaid ones close after this; receipt is confirmed for the buyer after that.
    unpaid_timeout_minutes: int = 30
    # Each unpaid order keeps its stock until the timeout, so one account with many could
    # empty a flash sale without paying. Per buyer and shop: at most this many unpaid orders,
    max_unpaid_orders_per_shop: int = Field(default=5, ge=1)
    # and at most this many units of one SKU across them (the new order included). 20 is more
    # of one SKU than a household buys at once, yet it takes five accounts to hold all of a
    # 100-unit sale.
    max_unpaid_units_per_sku: int = Field(default=20, ge=1)
    auto_confirm_days: int = 10
    # Timed work (closing, confirming) runs inside the server unless a separate
    # `pocketshop worker` does it.
    embedded_worker: bool = True
    jobs_interval_seconds: float = 10.0
    # Rendered storefront pages kept per server process; 0 turns the cache off.
    page_cache_entries: int = 5000
    # Shops, shipping terms and logins kept per server process; 0 turns the cache off.
    row_cache_entries: int = 50_000

    outbox_sweep_seconds: float = 5.0

    # Payments. Providers buyers may choose, in the order offered: sandbox (no real money),
    # wechatpay, alipay. The sandbox is refused in production.
    payment_providers: list[str] = ["sandbox"]
    # The platform's fee on each released order, in basis points (60 = 0.6%).
    platform_fee_bps: int = 60
    # Released money becomes available this many days later (T+1), in the shop's time zone.
    settlement_days: int = 1
    # Refunds stay possible this many days after receipt (China's 7-day no-reason returns).
    aftersales_days: int = 7
    # After-sales timers (aftersales.jobs). A shop silent on a refund-only request before
    # shipment agrees after these hours; on any other request after these days.
    aftersales_silent_unshipped_hours: int = Field(default=48, ge=1)
    aftersales_silent_days: int = Field(default=5, ge=1)
    # A buyer who does not send the return (or answer the shop's offer) is closed after this.
    aftersales_return_days: int = Field(default=7, ge=1)
    # A shop that does not confirm a return's arrival refunds after this, counted from the
    # buyer's dispatch (no courier tracking tells us the day it was delivered).
    aftersales_confirm_days: int = Field(default=10, ge=1)
    # After a refusal, the buyer may escalate to the platform this long.
    aftersales_escalate_days: int = Field(default=7, ge=1)
    # Attribution: a buyer brought by a store's, staff member's, campaign's or customer's link
    # stays bound to that source this long (the first one wins inside it), and the links and
    # QR codes themselves are honoured this long after they were made (printed ones get old).
    referral_days: int = Field(default=30, ge=1)
    referral_link_days: int = Field(default=365, ge=1)
    # Applications per order line, over its life.
    aftersales_max_per_line: int = Field(default=5, ge=1)
    # Reconciliation asks the provider about a payment or refund still open after this.
    reconcile_after_minutes: int = 5
    withdrawal_min_fen: int = 100
    # The sandbox provider's notification retries, in seconds after each failed try (the
    # schedule WeChat Pay uses: 15 s up to 6 h, 15 tries in 24 h).
    sandbox_notify_schedule: list[int] = [
        15,
        15,
        30,
        180,
        600,
        1200,
        1800,
        1800,
        1800,
        3600,
        10800,
        10800,
        10800,
        21600,
        21600,
    ]
    # Payouts of withdrawals to bank cards: sandbox (the demo's), which pays at once.
    payout_backend: str = "sandbox"
    # WeChat Pay (API v3, direct merchant, platform public-key mode). PEM keys as text.
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_merchant_serial: str = ""
    wechatpay_private_key: str = ""
    wechatpay_apiv3_key: str = ""
    wechatpay_public_key: str = ""
    wechatpay_public_key_id: str = ""
    # While moving from platform certificates to the public key, WeChat Pay signs callbacks
    # with either for a week: the platform certificates (PEM, one or several) verify the rest.
    wechatpay_platform_certificates: str = ""
    wechatpay_gateway: str = "https://api.mch.weixin.qq.com"
    # Alipay (RSA2). PEM keys as text: the app's private key, Alipay's public key. The seller
    # id is the PID (2088 and 12 digits) of the account paid: notices name it.
    alipay_appid: str = ""
    alipay_seller_id: str = ""
    alipay_app_private_key: str = ""
    alipay_public_key: str = ""
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    # WeChat subscription messages (notifications): console (logs them; the demo's) or api
    # (WeChat's server API with the app's id and secret). Templates: JSON, per event, e.g.
    # {"order_paid": {"template_id": "…", "fields": {"character_string1": "number"}}}.
    wechat_messages_backend: str = "console"
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_templates: str = ""
    wechat_api_gateway: str = "https://api.weixin.qq.com"
    # The Official Account (公众号) that signs buyers in inside WeChat (web authorisation) and
    # signs the JS-SDK's share cards: both empty, no WeChat sign-in (phone login, as the
    # demo). WeChat Pay's JSAPI needs openids of its own app: the same app id.
    wechat_mp_app_id: str = ""
    wechat_mp_app_secret: str = ""
    # A notification's SMS or WeChat message is given up (marked failed) after this many tries.
    notification_max_tries: int = Field(default=5, ge=1, le=8)

    @model_validator(mode="after")
    def _production_needs_public_url(self) -> "Settings":
        if self.env is Environment.production and not self.public_base_url:
            # Otherwise shop links and QR codes would be built from the client's Host header.
            raise ValueError("POCKETSHOP_PUBLIC_BASE_URL must be set in production")
        if self.env is Environment.production and "sandbox" in self.payment_providers:
            raise ValueError("the sandbox payment provider takes no real money: not in production")
        if self.env is Environment.production and self.payout_backend == "sandbox":
            raise ValueError(
                "the sandbox payout backend pays nobody: set POCKETSHOP_PAYOUT_BACKEND in "
                "production"
            )
        if self.env is Environment.production and not self.cookie_secure:
            raise ValueError("POCKETSHOP_COOKIE_SECURE must be true in production (HTTPS only)")
        real = sorted({"wechatpay", "alipay"} & set(self.payment_providers))
        if real and not self.public_base_url:
            # Their notifications (refunds' too, sent from a worker) need an address to reach.
            raise ValueError(f"{' and '.join(real)} need POCKETSHOP_PUBLIC_BASE_URL")
        if real and self.env is Environment.production and not self.public_url_is_https:
            # Their notify URLs are built from it: WeChat Pay takes https ones only, and over
            # plain http what providers tell us could be read or changed on the way.
            raise ValueError(
                f"{' and '.join(real)} call back over https only: POCKETSHOP_PUBLIC_BASE_URL "
                "must be an https:// address in production"
            )
        if "wechatpay" in self.payment_providers:
            missing = [
                f"POCKETSHOP_{name.upper()}"
                for name in WECHATPAY_REQUIRED
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"wechatpay needs {', '.join(missing)}")
            if len(self.wechatpay_apiv3_key.encode()) != 32:
                raise ValueError("POCKETSHOP_WECHATPAY_APIV3_KEY must be 32 bytes")
        if bool(self.wechat_mp_app_id) != bool(self.wechat_mp_app_secret):
            raise ValueError(
                "WeChat sign-in needs both POCKETSHOP_WECHAT_MP_APP_ID and "
                "POCKETSHOP_WECHAT_MP_APP_SECRET"
            )
        if (
            self.wechat_mp_app_id
            and "wechatpay" in self.payment_providers
            and self.wechatpay_appid != self.wechat_mp_app_id
        ):
            # An openid belongs to one app: paying inside WeChat (JSAPI) with the openid of
            # a sign-in needs WeChat Pay bound to the same Official Account.
            raise ValueError(
                "POCKETSHOP_WECHATPAY_APPID must be the Official Account's "
                "(POCKETSHOP_WECHAT_MP_APP_ID) for paying inside WeChat"
            )
        if "alipay" in self.payment_providers:
            missing = [
                f"POCKETSHOP_{name.upper()}" for name in ALIPAY_REQUIRED if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"alipay needs {', '.join(missing)}")
            if not ALIPAY_PID.fullmatch(self.alipay_seller_id):
                raise ValueError(
                    "POCKETSHOP_ALIPAY_SELLER_ID must be the account's PID: 2088 and 12 digits"
                )
        return self

    @property
    def wechat_sign_in(self) -> bool:
        """Buyers inside WeChat are signed in with the Official Account."""
        return bool(self.wechat_mp_app_id)

    @property
    def public_url_is_https(self) -> bool:
        """Whether the public URL (of links and callbacks) is an https one."""
        parts = urlsplit(self.public_base_url)
        return parts.scheme.lower() == "https" and bool(parts.netloc)

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    @property
    def own_url(self) -> str:
        """Where providers call back and send buyers back to: the public URL, or the address
        `pocketshop serve` listens on by default. Never taken from a request's Host header,
        which anyone can set."""
        return (self.public_base_url or DEFAULT_OWN_URL).rstrip("/")

    @property
    def dev_inbox_enabled(self) -> bool:
        # The SMS dev inbox shows login codes to anyone: only in the demo (and its tests).
        return self.env in (Environment.demo, Environment.test) and self.sms_backend == "console"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.instance_dir / "media"

    @cached_property
    def secrets(self) -> "Secrets":
        return load_secrets(self)


class Secrets:
    def __init__(self, secret_key: str, data_key: str) -> None:
        self.secret_key = secret_key
        self.fernet = Fernet(data_key.encode())


def _read_secrets(path: Path) -> dict[str, str]:
    """Read keys another process may still be writing (it needs a moment at most)."""
    for _attempt in range(50):
        try:
            stored: dict[str, str] = json.loads(path.read_text())
        except json.JSONDecodeError:
            time.sleep(0.02)
            continue
        return stored
    raise ConfigurationError(f"{path} is not valid JSON; delete it to generate new keys")


def load_secrets(settings: Settings) -> Secrets:
    """Use configured keys; outside production, generate missing ones once and keep them."""
    if settings.secret_key and settings.data_key:
        return Secrets(settings.secret_key, settings.data_key)
    if settings.is_production:
        raise ConfigurationError(
            "POCKETSHOP_SECRET_KEY and POCKETSHOP_DATA_KEY must be set in production"
        )
    path = settings.instance_dir / "secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    generated = {
        "secret_key": secrets.token_urlsafe(32),
        "data_key": Fernet.generate_key().decode(),
    }
    try:
        # O_EXCL: of several processes starting at once, exactly one writes the keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        stored = _read_secrets(path)
    else:
        with os.fdopen(fd, "w") as file:
            json.dump(generated, file)
        stored = generated
    return Secrets(
        settings.secret_key or stored["secret_key"], settings.data_key or stored["data_key"]
    )

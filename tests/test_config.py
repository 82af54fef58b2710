import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pocketshop.config import ConfigurationError, Environment, Settings


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    settings = Settings(
        env=Environment.production,
        instance_dir=tmp_path,
        public_base_url="https://p.example",
        payment_providers=[],
        payout_backend="manual",
        cookie_secure=True,
    )
    with pytest.raises(ConfigurationError, match="POCKETSHOP_SECRET_KEY"):
        _ = settings.secrets
    assert not (tmp_path / "secrets.json").exists()


def test_development_generates_keys_once_and_keeps_them(tmp_path: Path) -> None:
    first = Settings(instance_dir=tmp_path).secrets
    second = Settings(instance_dir=tmp_path).secrets
    assert first.secret_key == second.secret_key
    token = first.fernet.encrypt(b"6222020000000000")
    assert second.fernet.decrypt(token) == b"6222020000000000"
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert set(stored) == {"secret_key", "data_key"}
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_dev_inbox_only_in_the_demo() -> None:
    assert Settings(env=Environment.demo).dev_inbox_enabled
    assert not Settings(env=Environment.development).dev_inbox_enabled
    assert not Settings(
        env=Environment.production,
        secret_key="s",
        data_key="d",
        public_base_url="https://p.example",
        payment_providers=[],
        payout_backend="manual",
        cookie_secure=True,
    ).dev_inbox_enabled


def test_production_needs_its_public_url() -> None:
    with pytest.raises(ValidationError, match="POCKETSHOP_PUBLIC_BASE_URL"):
        Settings(env=Environment.production, secret_key="s", data_key="d")


def test_production_refuses_the_sandbox_provider() -> None:
    # It takes no real money: offered by mistake, buyers would "pay" and receive goods.
    with pytest.raises(ValidationError, match="sandbox"):
        Settings(
            env=Environment.production,
            secret_key="s",
            data_key="d",
            public_base_url="https://p.example",
        )


@pytest.mark.parametrize(
    ("given", "refusal"),
    [
        ({"payout_backend": "sandbox"}, "sandbox payout backend"),
        ({"cookie_secure": False}, "POCKETSHOP_COOKIE_SECURE"),
    ],
)
def test_production_refuses_fake_money_and_cookies_over_http(
    given: dict[str, object], refusal: str
) -> None:
    with pytest.raises(ValidationError, match=refusal):
        Settings(
            **{  # type: ignore[arg-type]
                "env": Environment.production,
                "secret_key": "s",
                "data_key": "d",
                "public_base_url": "https://p.example",
                "payment_providers": [],
                "payout_backend": "manual",
                "cookie_secure": True,
                **given,
            }
        )


def test_callback_addresses_never_come_from_a_request() -> None:
    assert Settings(public_base_url="https://p.example/").own_url == "https://p.example"
    assert Settings().own_url == "http://127.0.0.1:8000"


def test_parallel_starts_share_one_set_of_keys(tmp_path: Path) -> None:
    def load(_n: int) -> str:
        return Settings(instance_dir=tmp_path).secrets.secret_key

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(load, range(16)))
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("provider", "given", "refusal"),
    [
        ("wechatpay", {}, "POCKETSHOP_PUBLIC_BASE_URL"),
        ("wechatpay", {"public_base_url": "https://p.example"}, "POCKETSHOP_WECHATPAY_MCHID"),
        ("alipay", {}, "POCKETSHOP_PUBLIC_BASE_URL"),
        ("alipay", {"public_base_url": "https://p.example"}, "POCKETSHOP_ALIPAY_APPID"),
    ],
)
def test_a_real_provider_needs_its_keys_and_a_public_url(
    provider: str, given: dict[str, str], refusal: str
) -> None:
    with pytest.raises(ValidationError, match=refusal):
        Settings(payment_providers=[provider], **given)


WECHATPAY: dict[str, Any] = {
    "payment_providers": ["wechatpay"],
    "wechatpay_mchid": "1900000109",
    "wechatpay_appid": "wxd678efh567hg6787",
    "wechatpay_merchant_serial": "3775B6A45ACD588826D15E583A95F5DD00000000",
    "wechatpay_private_key": "(PEM)",
    "wechatpay_apiv3_key": "0" * 32,
    "wechatpay_public_key": "(PEM)",
    "wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000",
}


def test_production_refuses_provider_callbacks_over_plain_http() -> None:
    """The notify URLs are built from the public URL: in production it must be https."""
    production: dict[str, Any] = {
        "env": Environment.production,
        "secret_key": "s",
        "data_key": "d",
        "payout_backend": "manual",
        "cookie_secure": True,
        **WECHATPAY,
    }
    for url in ("http://shop.example.com", "shop.example.com", "https://"):
        with pytest.raises(ValidationError, match="https"):
            Settings(**production, public_base_url=url)
    secure = Settings(**production, public_base_url="HTTPS://shop.example.com")
    assert secure.public_url_is_https
    # Outside production a local address works (the fakes and a developer's tunnel).
    local = Settings(**WECHATPAY, public_base_url="http://127.0.0.1:8000")
    assert not local.public_url_is_https


@pytest.mark.parametrize(
    "seller_id", ["", "2021000117667788", "208810217784688", "x2088102177846880"]
)
def test_alipay_needs_the_pid_of_the_account_paid(seller_id: str) -> None:
    """Alipay's notices name the account paid (seller_id, a 2088… PID): it is checked."""
    alipay: dict[str, Any] = {
        "payment_providers": ["alipay"],
        "public_base_url": "https://p.example",
        "alipay_appid": "2021000117667788",
        "alipay_app_private_key": "(PEM)",
        "alipay_public_key": "(PEM)",
    }
    with pytest.raises(ValidationError, match="POCKETSHOP_ALIPAY_SELLER_ID"):
        Settings(**alipay, alipay_seller_id=seller_id)
    assert Settings(**alipay, alipay_seller_id="2088102177846880").alipay_seller_id


def test_the_limits_on_unpaid_orders_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (Settings().max_unpaid_orders_per_shop, Settings().max_unpaid_units_per_sku) == (5, 20)
    monkeypatch.setenv("POCKETSHOP_MAX_UNPAID_ORDERS_PER_SHOP", "3")
    monkeypatch.setenv("POCKETSHOP_MAX_UNPAID_UNITS_PER_SKU", "50")
    assert (Settings().max_unpaid_orders_per_shop, Settings().max_unpaid_units_per_sku) == (3, 50)
    # Zero would refuse every order.
    monkeypatch.setenv("POCKETSHOP_MAX_UNPAID_ORDERS_PER_SHOP", "0")
    with pytest.raises(ValidationError, match="max_unpaid_orders_per_shop"):
        Settings()

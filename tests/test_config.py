import json
from pathlib import Path

import pytest

from pocketshop.config import ConfigurationError, Environment, Settings


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    settings = Settings(env=Environment.production, instance_dir=tmp_path)
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
    assert not Settings(env=Environment.production, secret_key="s", data_key="d").dev_inbox_enabled

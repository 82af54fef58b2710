"""Uploaded files on local disk under settings.media_path, served at /media/."""

import secrets
from pathlib import Path

from pocketshop.config import Settings

URL_PREFIX = "/media/"


def save(settings: Settings, folder: str, data: bytes, suffix: str) -> str:
    """Store bytes under a random name; returns the key to keep in the database."""
    key = f"{folder}/{secrets.token_hex(16)}{suffix}"
    path = settings.media_path / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


def url(key: str) -> str:
    return URL_PREFIX + key


def path(settings: Settings, key: str) -> Path:
    return settings.media_path / key

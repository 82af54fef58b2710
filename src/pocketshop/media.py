"""Uploaded files on local disk under settings.media_path, served at /media/.

A file is written before the transaction that names it, under a part name nobody serves
(`Files.stage`), and becomes the file itself only once that transaction committed; when it
fails, the part is removed. A crash in between leaves a part behind: `tidy` makes it the file
if a committed row names it, and removes it otherwise.
"""

import contextlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

from pocketshop.config import Settings

URL_PREFIX = "/media/"
PART = ".part"
# A part older than this outlived its request: it was kept or dropped by a crash.
LEFT_BEHIND = timedelta(hours=1)


def url(key: str) -> str:
    return URL_PREFIX + key


def path(settings: Settings, key: str) -> Path:
    return settings.media_path / key


def _part(settings: Settings, key: str) -> Path:
    return settings.media_path / f"{key}{PART}"


class Files:
    """The files one upload writes for its transaction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys: list[str] = []

    def stage(self, folder: str, data: bytes, suffix: str) -> str:
        """Write bytes under a new random key, as a part not served yet; the key to keep in
        the database."""
        key = f"{folder}/{secrets.token_hex(16)}{suffix}"
        part = _part(self.settings, key)
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(data)
        self.keys.append(key)
        return key


@contextlib.contextmanager
def staged(settings: Settings) -> Iterator[Files]:
    """Files for a transaction that runs inside the block: kept when the block ends (after
    the transaction committed), removed when it raises."""
    files = Files(settings)
    try:
        yield files
    except BaseException:
        discard(settings, files.keys)
        raise
    keep(settings, files.keys)


def keep(settings: Settings, keys: Iterable[str]) -> None:
    for key in keys:
        with contextlib.suppress(FileNotFoundError):  # kept already (by `tidy`, say)
            os.replace(_part(settings, key), path(settings, key))


def discard(settings: Settings, keys: Iterable[str]) -> None:
    for key in keys:
        _part(settings, key).unlink(missing_ok=True)


def left_behind(settings: Settings) -> list[str]:
    """Keys of parts older than LEFT_BEHIND."""
    if not settings.media_path.exists():
        return []
    before = time.time() - LEFT_BEHIND.total_seconds()
    return [
        str(found.relative_to(settings.media_path))[: -len(PART)]
        for found in settings.media_path.rglob(f"*{PART}")
        if found.stat().st_mtime < before
    ]

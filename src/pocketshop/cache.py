"""Rendered-page cache with exact invalidation. A second cache of the same kind keeps the few
rows nearly every request reads (a shop by its link, its shipping terms, a login), under the
same rules.

A cached page carries tags (`product:12`, `shop:3`). A service that changes what a page
shows calls `invalidate(session, tags...)`; the tags are dropped when the transaction commits,
and never before (a reader could otherwise re-cache the old rows in between).

Two rules keep money on pages exact:
- A page may be stored only if none of its tags was invalidated since the render began
  (each tag remembers the sequence number of its last invalidation), so a render that read
  rows from before a commit is thrown away instead of outliving it.
- With several server processes (PostgreSQL), each transaction that invalidates also sends
  `NOTIFY` on one channel, which PostgreSQL delivers at commit; every process listens and
  drops the same tags. While a process has no listening connection it serves nothing from
  the cache.
"""

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import String, bindparam, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, object_session

log = logging.getLogger(__name__)

CHANNEL = "pocketshop_cache"
# A cache remembers when at most this many tags per entry it holds last changed.
FORGET_AFTER = 4
SESSION_KEY = "cache_tags"
CACHE_KEY = "row_cache"
SNAPSHOT_KEY = "row_cache_snapshot"
T = TypeVar("T")
ALL = "*"


def shop_tag(shop_id: int) -> str:
    return f"shop:{shop_id}"


def product_tag(product_id: int) -> str:
    return f"product:{product_id}"


def user_tag(user_id: int) -> str:
    return f"user:{user_id}"


def privileges_tag(shop_id: int) -> str:
    """Pages a signed-in buyer sees in the shop, whose prices their privileges may change."""
    return f"privileges:{shop_id}"


def invalidate(session: AsyncSession | Session, *tags: str) -> None:
    """Mark tags to drop when this transaction commits."""
    session.info.setdefault(SESSION_KEY, set()).update(tags)


def drop_on_change(model: type[Any], tag_of: Callable[[Any], str]) -> None:
    """Whatever inserts, updates or deletes a `model` row through the ORM drops its tag at
    commit (and keeps this transaction from caching what it may yet roll back)."""

    def changed(_mapper: Any, _connection: Any, row: Any) -> None:
        session = object_session(row)
        if session is not None:
            invalidate(session, tag_of(row))

    for change in ("after_insert", "after_update", "after_delete"):
        event.listen(model, change, changed)


def for_session(session: AsyncSession, rows: "TaggedCache | None") -> None:
    """Give a new session the row cache, and its snapshot before the session reads anything
    (SQLite's view of the data is fixed at a transaction's first read, not at a later one)."""
    session.info[CACHE_KEY] = rows
    session.info[SNAPSHOT_KEY] = rows.snapshot() if rows is not None else None


async def read_through(
    session: AsyncSession,
    key: tuple[Any, ...],
    read: Callable[[], Awaitable[tuple[T, Iterable[str]] | None]],
) -> T | None:
    """A cached value, or `read()`'s (value, tags), kept until one of the tags is invalidated.
    Only immutable values belong here: every request that finds one shares it. What this
    transaction changed itself is neither served from the cache nor stored: it is not
    committed yet, and may roll back."""
    cache: TaggedCache | None = session.info.get(CACHE_KEY)
    snapshot: tuple[int, int] | None = session.info.get(SNAPSHOT_KEY)
    changed = pending_tags(session)
    if cache is not None:
        found = cache.get(key, unless_tagged=changed)
        if found is not None:
            return cast(T, found)
    answer = await read()
    if answer is None:
        return None
    value, tags = answer
    tags = frozenset(tags)
    if cache is not None and snapshot is not None and not tags & pending_tags(session):
        cache.put(key, value, tags, snapshot)
    return value


def pending_tags(session: AsyncSession) -> set[str]:
    tags: set[str] = session.info.get(SESSION_KEY, set())
    return tags


_NOTIFY = select(func.pg_notify(CHANNEL, bindparam("tags", type_=String())))


async def announce(session: AsyncSession) -> None:
    """Before commit, on PostgreSQL: queue the NOTIFY that reaches the other processes."""
    tags = pending_tags(session)
    if tags and session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(_NOTIFY, {"tags": " ".join(sorted(tags))})


@dataclass
class Entry:
    body: object  # a page's bytes, or an immutable value (`read_through`)
    tags: frozenset[str]
    # Other keys that find this page (see `alias`); they go when it goes.
    aliases: set[tuple[Any, ...]] = field(default_factory=set)


class TaggedCache:
    """An in-process LRU of rendered pages (and a few immutable values), invalidated by tag."""

    def __init__(self, max_entries: int = 5000, *, enabled: bool = True) -> None:
        self.max_entries = max_entries
        self.enabled = enabled
        # False while a multi-process deployment has lost its NOTIFY connection.
        self.connected = True
        self._entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self._by_tag: dict[str, set[tuple[Any, ...]]] = {}
        self._aliases: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        # Sequence number of every invalidation, and of each tag's last one.
        self._sequence = 0
        self._invalidated_at: dict[str, int] = {}
        self._epoch = 0

    @property
    def active(self) -> bool:
        return self.enabled and self.connected

    def get(self, key: tuple[Any, ...], *, unless_tagged: Collection[str] = ()) -> object | None:
        if not self.active:
            return None
        entry = self._entries.get(key)
        if entry is None or not entry.tags.isdisjoint(unless_tagged):
            return None
        self._entries.move_to_end(key)
        return entry.body

    def alias(self, alias: tuple[Any, ...], key: tuple[Any, ...]) -> None:
        """Let `alias` find the page stored under `key` too, for as long as it is stored."""
        entry = self._entries.get(key)
        if entry is None:
            return
        previous = self._aliases.get(alias)
        if previous is not None and previous != key:
            self._unalias(alias)
        self._aliases[alias] = key
        entry.aliases.add(alias)

    def get_page(self, key: tuple[Any, ...]) -> bytes | None:
        body = self.get(key)
        return body if isinstance(body, bytes) else None

    def get_alias(self, alias: tuple[Any, ...]) -> bytes | None:
        key = self._aliases.get(alias)
        return None if key is None else self.get_page(key)

    def snapshot(self) -> tuple[int, int]:
        """Taken before a render reads the database; `put` compares it."""
        return self._epoch, self._sequence

    def put(
        self,
        key: tuple[Any, ...],
        body: object,
        tags: Iterable[str],
        snapshot: tuple[int, int],
    ) -> bool:
        tag_set = frozenset(tags)
        epoch, sequence = snapshot
        if not self.active or epoch != self._epoch:
            return False
        if any(self._invalidated_at.get(tag, 0) > sequence for tag in tag_set):
            return False  # something it shows changed while it was rendered
        self._drop_key(key)
        self._entries[key] = Entry(body, tag_set)
        for tag in tag_set:
            self._by_tag.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries:
            oldest = next(iter(self._entries))
            self._drop_key(oldest)
        return True

    def invalidate(self, tags: Iterable[str]) -> None:
        for tag in tags:
            if tag == ALL:
                self.clear()
                continue
            self._sequence += 1
            self._invalidated_at[tag] = self._sequence
            for key in list(self._by_tag.pop(tag, ())):
                self._drop_key(key)
        if len(self._invalidated_at) > FORGET_AFTER * self.max_entries:
            # Tags come from outside too (a guesser's address per lookup that missed): when
            # they last changed is forgotten, which is safe only if every render begun before
            # is refused, as a new epoch does.
            self.clear()
            self._invalidated_at.clear()

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()
        self._by_tag.clear()
        self._aliases.clear()

    def _unalias(self, alias: tuple[Any, ...]) -> None:
        key = self._aliases.pop(alias, None)
        entry = self._entries.get(key) if key is not None else None
        if entry is not None:
            entry.aliases.discard(alias)

    def _drop_key(self, key: tuple[Any, ...]) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for alias in entry.aliases:
            self._aliases.pop(alias, None)
        for tag in entry.tags:
            keys = self._by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]

    def __len__(self) -> int:
        return len(self._entries)


class NotifyListener:
    """Keeps a LISTEN connection open (PostgreSQL) and feeds notifications to the caches."""

    def __init__(self, caches: Sequence[TaggedCache], database_url: str) -> None:
        self.caches = caches
        self.url = make_url(database_url)
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    def _connected(self, connected: bool) -> None:
        for cache in self.caches:
            cache.connected = connected

    def start(self) -> None:
        self._connected(False)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for cache in self.caches:
            cache.invalidate(payload.split())

    def _on_lost(self, _conn: Any) -> None:
        self._connected(False)
        self._lost.set()

    async def _run(self) -> None:
        while True:
            connection = None
            self._lost.clear()
            try:
                connection = await asyncpg.connect(
                    host=self.url.host,
                    port=self.url.port or 5432,
                    user=self.url.username,
                    password=self.url.password,
                    database=self.url.database,
                )
                connection.add_termination_listener(self._on_lost)
                await connection.add_listener(CHANNEL, self._on_notify)
                # Whatever changed while nobody listened is unknown: start empty.
                for cache in self.caches:
                    cache.clear()
                self._connected(True)
                await self._lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("cache: no notification connection; retrying", exc_info=True)
            finally:
                self._connected(False)
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(1)

"""Engine, sessions, the declarative Base and the transaction boundary.

One transaction per request, job step or CLI command: `transaction()` opens it and commits at
the end; services only flush. Transactions never nest, and nothing waits on the outside world
(a payment provider, a bank) inside one: `outside_transaction()` says so where it matters. On
SQLite the embedded server serialises write transactions with one lock, so concurrent buyers
queue instead of failing with "database is locked".

Where SQL must differ between PostgreSQL and SQLite, it does so here, in a named helper:
`insert_new`, `insert_or_add`, `insert_new_with`, `update_with`, `for_update`,
`serialize`, `json_arrays`.
"""

import asyncio
import contextlib
import contextvars
import functools
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import (
    ARRAY,
    CTE,
    Column,
    DateTime,
    Insert,
    MetaData,
    Select,
    Table,
    Update,
    bindparam,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import JSON, TypeDecorator

from pocketshop import cache

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


DATABASE_KEY = "pocketshop.database"
HOLDS_WRITE_LOCK = "pocketshop.holds_write_lock"
HELD_LOCKS = "pocketshop.held_locks"
IMMEDIATE = "pocketshop_sqlite_immediate"
# The task inside a transaction: a second one in the same task would deadlock on SQLite's
# write lock, and a call to the outside world would hold rows (or that lock) while it waits.
# A task started meanwhile inherits the variable, but is another task: free to open its own.
_IN_TRANSACTION: contextvars.ContextVar["asyncio.Task[Any] | None"] = contextvars.ContextVar(
    "pocketshop_in_transaction", default=None
)


def _inside() -> bool:
    return _IN_TRANSACTION.get() is asyncio.current_task()


class ReadOnly(RuntimeError):
    """A write in a session of `Database.reading()`: a bug, refused before it is sent."""


class ReadingSession(Session):
    """The session of a request that only reads (`Database.reading`)."""


@event.listens_for(ReadingSession, "before_flush")
def _refuse_flush(session: Session, _context: object, _instances: object) -> None:
    raise ReadOnly("a change flushed by a request that only reads")


@event.listens_for(ReadingSession, "do_orm_execute")
def _refuse_write(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnly("a write statement run by a request that only reads")


class NestedTransaction(RuntimeError):
    """A transaction opened inside another, or the outside world called from inside one."""


@contextlib.contextmanager
def _outermost() -> Iterator[None]:
    if _inside():
        raise NestedTransaction("a transaction inside a transaction")
    token = _IN_TRANSACTION.set(asyncio.current_task())
    try:
        yield
    finally:
        _IN_TRANSACTION.reset(token)


def outside_transaction(what: str) -> None:
    """Refuse `what` (a provider or bank call) inside a transaction: it would hold the
    transaction's row locks, and on SQLite every writer, for as long as the other side takes."""
    if _inside():
        raise NestedTransaction(f"{what} inside a transaction")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """A model's Core table: hot paths run Core statements, which skip the ORM's overhead."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


M = TypeVar("M", bound=Base)
S = TypeVar("S", bound="Select[*tuple[Any, ...]]")


def columns_of(row: Base) -> Mapping[str, Any]:
    """A loaded row's column values, read-only: what `attach` needs to make it again."""
    mapper = inspect(row).mapper
    return MappingProxyType({attr.key: getattr(row, attr.key) for attr in mapper.column_attrs})


def row_of(model: type[M], values: Mapping[str, Any]) -> M:
    """An instance holding `values`, put straight into its dict as the ORM's own loading does:
    no set event fires per attribute, which costs more than the rest."""
    row = model()
    inspect(row).dict.update(values)
    return row


@functools.cache
def _left_out(table: Table) -> Mapping[str, Any]:
    """Columns a new row may leave out, with what they then hold: NULL, or a plain default."""
    values: dict[str, Any] = {}
    for column in table.c:
        default = column.default
        if column.primary_key:
            continue
        if isinstance(default, ScalarElementColumnDefault):
            values[column.name] = default.arg
        elif default is None and column.nullable and column.server_default is None:
            values[column.name] = None
    return MappingProxyType(values)


def new_row(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of a row to insert with Core and `attach` after: `values`, plus NULL or
    the plain default of the columns left out. Raises if any other column is missing."""
    row = {**_left_out(table), **values}
    missing = [c.name for c in table.c if not c.primary_key and c.name not in row]
    if missing:
        raise ValueError(f"{table.name} columns missing: {missing}")
    return row


def insert_new(session: AsyncSession, table: Table) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING id` for the session's database: a row that
    clashes with a unique constraint returns no id and writes nothing, and no savepoint is
    needed to carry on."""
    return _insert_new(session.get_bind().dialect.name, table)


@functools.cache
def _insert_new(dialect_name: str, table: Table) -> Insert:
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing().returning(table.c.id)
    return sqlite.insert(table).on_conflict_do_nothing().returning(table.c.id)


def insert_ignoring(session: AsyncSession, table: Table) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING`, for a table without an id to return (a link row)."""
    return _insert_ignoring(session.get_bind().dialect.name, table)


@functools.cache
def _insert_ignoring(dialect_name: str, table: Table) -> Insert:
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def insert_or_add(session: AsyncSession, table: Table, counter: str) -> Insert:
    """`INSERT … ON CONFLICT (primary key) DO UPDATE SET counter = counter + the new row's`:
    a counter kept per key in one statement, without reading it first."""
    return _insert_or_add(session.get_bind().dialect.name, table, counter)


@functools.cache
def _insert_or_add(dialect_name: str, table: Table, counter: str) -> Insert:
    statement = (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={counter: table.c[counter] + statement.excluded[counter]},
    )
    return upsert


async def insert_new_with(
    session: AsyncSession,
    table: Table,
    row: Mapping[str, Any],
    children: Sequence[tuple[Table, Sequence[Mapping[str, Any]]]],
    *,
    link: str,
) -> int | None:
    """`insert_new` of `row`, and with it the rows of other tables that point at it (their
    column `link` gets the new id): the new id, or None and nothing written when `row`
    clashes with a unique constraint. Columns left out get what `new_row` gives them.

    PostgreSQL: one statement, one round trip (data-modifying CTEs, each child table's rows
    passed as one array per column). SQLite cannot put an INSERT in a CTE: there it is one
    statement per table, each table's rows in one executemany."""
    row = new_row(table, row)
    filled = [
        (child, [{**_left_out(child), **values} for values in rows]) for child, rows in children
    ]
    if session.get_bind().dialect.name != "postgresql":
        new_id: int | None = await session.scalar(insert_new(session, table), row)
        if new_id is not None:
            for child, rows in filled:
                await session.execute(insert(child), [{**values, link: new_id} for values in rows])
        return new_id
    params = dict(row)
    for child, rows in filled:
        for column in _child_columns(child, link):
            params[f"{child.name}__{column.name}"] = [values[column.name] for values in rows]
    statement = _insert_new_with(table, tuple(child for child, _rows in filled), link)
    created: int | None = await session.scalar(statement, params)
    return created


@functools.cache
def _child_columns(table: Table, link: str) -> tuple[Column[Any], ...]:
    return tuple(column for column in table.c if column.name not in ("id", link))


def _children_of(parent: CTE, children: tuple[Table, ...], link: str) -> list[CTE]:
    """INSERTs of each child table's rows, given as arrays, pointing at `parent`'s id: one
    row per array element (unnest() of equally long arrays in one SELECT list zips them)."""
    return [
        insert(child)
        .from_select(
            [link, *(column.name for column in _child_columns(child, link))],
            select(
                parent.c.id,
                *(
                    func.unnest(bindparam(f"{child.name}__{column.name}", type_=ARRAY(column.type)))
                    for column in _child_columns(child, link)
                ),
            ),
        )
        .cte(f"new_{child.name}")
        for child in children
    ]


@functools.cache
def _insert_new_with(table: Table, children: tuple[Table, ...], link: str) -> Select[tuple[int]]:
    parent = (
        postgresql.insert(table)
        .values({c.name: bindparam(c.name, type_=c.type) for c in table.c if c.name != "id"})
        .on_conflict_do_nothing()
        .returning(table.c.id)
        .cte(f"new_{table.name}")
    )
    return select(parent.c.id).add_cte(*_children_of(parent, children, link))


async def update_with(
    session: AsyncSession,
    update: Update,
    params: Mapping[str, Any],
    child: Table,
    child_row: Mapping[str, Any],
    *,
    link: str,
) -> bool:
    """Run `update` (of one row at most) and, if it changed the row, insert `child_row`
    pointing at it (its column `link` gets the row's id): whether it changed the row.
    Columns of `child_row` left out get what `new_row` gives them.

    PostgreSQL: one statement, one round trip (the UPDATE in a CTE, returning the id the
    INSERT takes). SQLite cannot put an UPDATE in a CTE: there it is two."""
    row = {**_left_out(child), **child_row}
    if session.get_bind().dialect.name != "postgresql":
        row_id = await session.scalar(_returning_id(update), params)
        if row_id is not None:
            await session.execute(insert(child), {**row, link: row_id})
        return row_id is not None
    arrays = {
        f"{child.name}__{column.name}": [row[column.name]] for column in _child_columns(child, link)
    }
    moved = await session.scalar(_update_with(update, child, link), {**params, **arrays})
    return moved is not None


@functools.cache
def _returning_id(update: Update) -> Update:
    return update.returning(update.table.c.id)


@functools.cache
def _update_with(update: Update, child: Table, link: str) -> Select[tuple[int]]:
    moved = _returning_id(update).cte("moved")
    return select(moved.c.id).add_cte(*_children_of(moved, (child,), link))


def for_update(session: AsyncSession, statement: S, *, of: type[Base] | None = None) -> S:
    """`statement` locking the rows it reads (of the table `of` only, when it joins others)
    until the transaction ends. PostgreSQL: SELECT … FOR NO KEY UPDATE (a second locker
    waits, then reads the row as committed). Not FOR UPDATE: that one also waits for, and
    deadlocks with, the key-share locks that inserting a row referring to the locked one
    takes (a refund naming its shop). SQLite has no row locks: a write transaction holds
    the one write lock of the database, so the statement reads as it is; refused outside a
    write transaction, where it would lock nothing."""
    if session.get_bind().dialect.name == "postgresql":
        locking: S = _locking(statement, of)
        return locking
    if not session.info.get(HOLDS_WRITE_LOCK):
        raise RuntimeError("rows locked outside a write transaction")
    return statement


@functools.lru_cache(maxsize=512)
def _locking(statement: S, of: type[Base] | None) -> S:
    """Kept for the statements built once (most are): a new statement object costs SQLAlchemy
    its cache key on every run, more CPU than the round trip."""
    return statement.with_for_update(of=of, key_share=True)


def note_held(session: AsyncSession, lock: tuple[str, int], row: object) -> None:
    """Remember that this transaction holds `lock` (a row lock taken with `for_update`) on
    `row`, kept here too: the session keeps rows only while something else does."""
    session.info.setdefault(HELD_LOCKS, {})[lock] = row


def held(session: AsyncSession, lock: tuple[str, int]) -> Any:
    """The row this transaction holds `lock` on (and did not roll back with an `attempt`),
    or None."""
    return session.info.get(HELD_LOCKS, {}).get(lock)


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:space, hashtext(:key))")


async def serialize(session: AsyncSession, space: int, key: str) -> None:
    """Make transactions naming the same (`space`, `key`) run one at a time until commit,
    for a rule that reads and then writes rows that do not exist yet (nothing to lock): a
    transaction-scoped advisory lock on PostgreSQL; SQLite's write transactions already run
    one at a time. Callers taking several take them in one fixed order."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_ADVISORY_LOCK, {"space": space, "key": key})
    elif not session.info.get(HOLDS_WRITE_LOCK):
        raise RuntimeError("serialized outside a write transaction")


@asynccontextmanager
async def attempt(session: AsyncSession) -> AsyncIterator[None]:
    """A unit inside the request's transaction whose writes stay only if it succeeds: a page
    that catches a service's refusal to show it calls the service in here, so the request's
    commit keeps nothing of what the refused call wrote (a SAVEPOINT rolled back). An error
    that asks to keep its changes (a counted wrong code) keeps them."""
    savepoint = await session.begin_nested()
    locks = dict(session.info.get(HELD_LOCKS, {}))
    try:
        yield
    except BaseException as exc:
        if getattr(exc, "keep_changes", False):
            await savepoint.commit()
        else:
            await savepoint.rollback()
            # PostgreSQL lets go of the row locks taken since the savepoint.
            session.info[HELD_LOCKS] = locks
        raise
    else:
        await savepoint.commit()


def attach(session: AsyncSession, model: type[M], values: Mapping[str, Any]) -> M:
    """A row read or written earlier (kept in a cache, inserted by Core) as this session's
    persistent object, without a query: the values count as loaded, and a later change is
    saved like one to a loaded object. `values` holds every column. The session's own copy
    if it holds one."""
    held = session.identity_map.get(identity_key(model, values["id"]))
    if held is not None:
        return held
    row = row_of(model, values)
    make_transient_to_detached(row)
    session.add(row)
    return row


class json_arrays(FunctionElement[Any]):
    """An aggregate: each row's `columns` as a JSON array, all of them as one JSON array, in no
    set order (SQLite before 3.44 orders no aggregate), `[]` for none. A select of it is one
    column, so a page reads a product's SKUs and photos in the product's own statement."""

    type = JSON()
    inherit_cache = True


@compiles(json_arrays, "postgresql")
def _json_arrays_postgresql(element: json_arrays, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalesce(json_agg(json_build_array({compiler.process(element.clauses, **kw)})), '[]')"


@compiles(json_arrays, "sqlite")
def _json_arrays_sqlite(element: json_arrays, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps JSON as text: json() nests it as JSON, not as a string.
    columns = (
        f"json({compiler.process(column, **kw)})"
        if isinstance(column.type, JSON)
        else compiler.process(column, **kw)
        for column in element.clauses
    )
    return f"json_group_array(json_array({', '.join(columns)}))"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# What a connection that the server dropped (a restart, a failover, an operator's
# pg_terminate_backend) raises, and what a connection left half-way through an operation by
# that raises next; connecting to a server that is down raises ConnectionError/TimeoutError,
# and to one at its connection limit (max_connections, a role's limit) TooManyConnectionsError.
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    TimeoutError,
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def unavailable(exc: BaseException) -> bool:
    """The database could not be reached or went away under this work, or SQLite stayed
    locked by another process past its busy timeout: a fault to answer 503 and try again
    (the work was rolled back, or never reached the database), not a bug."""
    for cause in _causes(exc):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, _CONNECTION_LOST):
            return True
        if isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause):
            return True
    return False


def _lost_connection(context: ExceptionContext) -> None:
    """Tell SQLAlchemy a connection is gone when asyncpg says so in ways its dialect does not
    recognise (an AdminShutdownError before the socket is seen closed, a protocol left
    mid-operation): the connection is then discarded, and every other connection the pool
    holds from before is replaced on its next checkout, so the pool recovers by itself."""
    if not context.is_disconnect and unavailable(context.original_exception):
        context.is_disconnect = True


class Database:
    """The engine and session factory of one app (or CLI command)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        engine_args: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            # No pre-ping: it costs a round trip on every request. Connections are recycled
            # instead, and one that died with a server restart fails one request only.
            engine_args.update(pool_size=20, max_overflow=20, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **engine_args)
        if not self.is_sqlite:
            event.listen(self.engine.sync_engine, "handle_error", _lost_connection)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        reads = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.reader = async_sessionmaker(
            reads, sync_session_class=ReadingSession, expire_on_commit=False
        )
        self.write_lock = asyncio.Lock()
        # The app's rendered pages and hot rows: told which tags a committed transaction
        # changed.
        self.page_cache: cache.TaggedCache | None = None
        self.row_cache: cache.TaggedCache | None = None
        # Committed facts that never change (a ledger account's id), kept for the process.
        self.lasting: dict[str, Any] = {}

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """The boundary: commit when the block ends, roll back when it raises.

        An exception that sets `keep_changes` (a counted wrong SMS code) still commits what was
        flushed before it, because forgetting the count would defeat the limit.
        """
        with _outermost():
            if self.is_sqlite and write:
                async with self.write_lock, self._session(self.sessionmaker) as session:
                    session.info[HOLDS_WRITE_LOCK] = True
                    # BEGIN IMMEDIATE: the database's write lock from the start, waited for
                    # (busy timeout) if another process holds it. A plain BEGIN that writes
                    # after reading fails at once instead ("database is locked") when another
                    # process wrote meanwhile.
                    await session.connection(execution_options={IMMEDIATE: True})
                    yield session
            else:
                async with self._session(self.sessionmaker) as session:
                    yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """The boundary of a request that only reads (a storefront page): any write in it
        raises ReadOnly. On PostgreSQL its statements run without BEGIN and COMMIT, two round
        trips of a product page's three: at READ COMMITTED, PostgreSQL's level, a
        transaction gives statements that only read nothing more, each takes its own snapshot
        either way. On SQLite, a transaction that reads."""
        with _outermost():
            async with self._session(self.reader) as session:
                yield session

    async def insert_alone(self, table: Table, row: Mapping[str, Any]) -> int | None:
        """`insert_new` of one row as a transaction of its own, outside any of ours: the new
        row's id, or None when it clashed with a row there before. For what must be kept
        before anything else happens, whatever else waits: a provider's notice before it is
        answered, the sandbox provider's books (kept as a remote provider keeps them).
        PostgreSQL: the statement commits by itself (autocommit: one round trip, not BEGIN,
        INSERT and COMMIT); SQLite: a write transaction like any other (its one writer)."""
        outside_transaction("a statement of its own")
        if self.is_sqlite:
            async with self.transaction() as session:
                new_id: int | None = await session.scalar(insert_new(session, table), row)
            return new_id
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            inserted = await autocommit.execute(_insert_new("postgresql", table), row)
            return inserted.scalar()

    @asynccontextmanager
    async def _session(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> AsyncIterator[AsyncSession]:
        session = sessionmaker()
        session.info[DATABASE_KEY] = self
        cache.for_session(session, self.row_cache)
        try:
            yield session
        except BaseException as exc:
            if _untouched(session):
                pass
            elif getattr(exc, "keep_changes", False):
                await session.commit()  # nothing a page shows: no cache tags to drop
            elif unavailable(exc):
                # The connection is gone (and discarded): nothing to roll back on it.
                with contextlib.suppress(Exception):
                    await session.rollback()
            else:
                await session.rollback()
            raise
        else:
            await self._commit(session)
        finally:
            if session.in_transaction():
                await session.close()

    async def _commit(self, session: AsyncSession) -> None:
        if not _untouched(session):
            # Flushed first: a change flushed by the commit itself names its tags then.
            if session.new or session.dirty or session.deleted:
                await session.flush()
            await cache.announce(session)
            await session.commit()
        tags = cache.pending_tags(session)
        if tags:
            for tagged in (self.page_cache, self.row_cache):
                if tagged is not None:
                    tagged.invalidate(tags)
            tags.clear()

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def analyze(self) -> None:
        """The planner's statistics of every table, gathered again (`ANALYZE`, the same word
        on both databases). Without them a freshly loaded PostgreSQL guesses: at 6,000
        products it chose the shop's listing index for a product looked up by its id and
        filtered the whole shop (4.3 ms instead of 0.05 ms). Run by `pocketshop migrate`;
        autovacuum keeps them up to date after that."""
        async with self.engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()


def _untouched(session: AsyncSession) -> bool:
    """Nothing read, queued or invalidated: no connection was taken, so there is nothing to
    commit or close. A page served from the cache skips both, a good part of its time."""
    return not (
        session.in_transaction() or session.new or session.deleted or cache.pending_tags(session)
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN breaks SAVEPOINT; SQLAlchemy emits BEGIN itself instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

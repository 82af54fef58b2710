"""What migrations need on SQLite alone."""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op


@contextmanager
def foreign_keys_off() -> Iterator[None]:
    """SQLite alters a column by copying its table and dropping the old one; with foreign keys
    on, that drop deletes the rows referring to it (ON DELETE CASCADE) or fails. The pragma
    is ignored inside a transaction, so the one Alembic opened is committed around it."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    for statement in ("COMMIT", "PRAGMA foreign_keys = OFF", "BEGIN"):
        bind.exec_driver_sql(statement)
    yield
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rows refer to missing rows: {broken}")
    for statement in ("COMMIT", "PRAGMA foreign_keys = ON", "BEGIN"):
        bind.exec_driver_sql(statement)

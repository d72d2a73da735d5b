"""Dialect-aware INSERT ... ON CONFLICT, and chunking that respects bound-parameter limits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")
KEYS_PER_IN_CLAUSE = 500


def dialect_insert(session: Session, table: Table):
    """`insert(table)` of the session's dialect, which has `.on_conflict_do_*` and `.excluded`."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"results database dialect {name!r} is not supported (Postgres or SQLite)")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def insert_ignoring_conflicts(session: Session, table: Table, rows: list[dict], keys: list[str]) -> None:
    """Insert the rows whose key is new.

    executemany: SQLAlchemy batches it into multi-row INSERTs ("insertmanyvalues") from one
    cached compiled statement, several times faster than compiling a huge VALUES list.
    (Postgres reports no rowcount for it and RETURNING doubles its cost: callers count rows.)
    """
    if rows:
        session.execute(dialect_insert(session, table).on_conflict_do_nothing(index_elements=keys), rows)


def upsert(session: Session, table: Table, rows: list[dict], keys: list[str], update: list[str]) -> None:
    """Insert rows, or overwrite `update` columns where the key exists.

    Postgres rejects a statement that touches the same key twice, and executemany is sent as
    multi-row statements, so rows must already be unique by `keys` (callers de-duplicate,
    last write wins).
    """
    if not rows:
        return
    statement = dialect_insert(session, table)
    set_ = {column: statement.excluded[column] for column in update}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=set_), rows)


def unique_last(items: Sequence[T], key) -> list[T]:
    """Items de-duplicated by key, the last occurrence winning, first-seen order kept."""
    latest: dict = {}
    for item in items:
        latest[key(item)] = item
    return list(latest.values())


def unique_first(items: Sequence[T], key) -> list[T]:
    seen: dict = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())

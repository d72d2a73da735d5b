"""A lock held while one producer lists a source, so that two `enqueue` runs of the same source
(an operator's retry racing a cron job) do one job's worth of work, not two.

Postgres: a session-level advisory lock on a connection of its own, released by the server if
the producer dies (its connection closes). SQLite: an exclusive `flock` on one file beside the
database (`<db>.enqueue.lock`, for every source), released by the kernel if the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text


def lock_key(*parts: str | None) -> int:
    """A signed 64-bit key (what pg_advisory_lock takes) for these strings."""
    digest = hashlib.blake2b("\x1f".join(part or "" for part in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def source_lock(engine: Engine, key: int) -> Iterator[None]:
    """Hold the lock for `key` (waiting for it if another producer holds it) inside the block."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, key):
            yield
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield  # a private in-memory database has no second producer
        return
    with _file_lock(Path(f"{database}.enqueue.lock")):  # one file: SQLite has one writer anyway
        yield


@contextmanager
def _advisory_lock(engine: Engine, key: int) -> Iterator[None]:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        conn.commit()  # the session-level lock outlives this transaction; no transaction stays open
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
            except Exception:  # the connection is gone, and the server dropped the lock with it
                conn.invalidate()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

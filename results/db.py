"""Engine, sessions and migrations for the results database (Postgres or SQLite).

One engine per process (created after fork in workers), one session per unit of work.
Connection failures surface as DatabaseUnavailable with a one-line, password-masked message.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "infra" / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key shared by every process that migrates ("meterocr" in ASCII-ish).
MIGRATION_LOCK_KEY = 0x6D657465726F6372


class DatabaseUnavailable(Exception):
    """The results database cannot be reached; the message is one line, password masked."""


def describe_url(url: str | URL) -> str:
    """The URL with any password replaced by `***`, safe for logs and error messages."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable database URL>"
    rendered = parsed.render_as_string(hide_password=True)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", rendered)  # libpq also takes ?password=...


def normalise_url(url: str | URL) -> URL:
    """postgres:// and postgresql:// mean psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        raise DatabaseUnavailable("bad database URL (expected postgresql://... or sqlite:///...)") from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL) -> Engine:
    """An engine with pre-ping; SQLite in WAL mode with a busy timeout, safe across processes."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _make_sqlite_engine(parsed)
    else:
        connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
        engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    _translate_connection_errors(engine)
    return engine


def _make_sqlite_engine(url: URL) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot open {describe_url(url)}: cannot create {folder} ({exc.strerror})") from None
    engine = create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Take over transaction control from pysqlite so "begin" below can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, fast
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):
        # Writers from several processes: take the write lock up front, so a read-then-write
        # transaction waits on busy_timeout instead of failing with SQLITE_BUSY mid-way.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor) -> None:
    """Put the database file in WAL mode. WAL is a property of the file, so once one connection
    has switched it the others have nothing to do. The switch itself needs the file to itself, and
    SQLite refuses it at once ("database is locked", without waiting on busy_timeout) while another
    process is opening the same new file: 1 run in 40 of four processes migrating a new file at
    once failed that way. So retry until the busy timeout has passed."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _translate_connection_errors(engine: Engine) -> None:
    where = describe_url(engine.url)

    @event.listens_for(engine, "handle_error")
    def _on_error(context):
        if context.is_pre_ping:
            return  # let pre-ping discard the dead connection and open a fresh one
        original = context.original_exception
        if context.is_disconnect or context.connection is None or _is_connect_failure(original):
            raise DatabaseUnavailable(f"cannot reach {where}: {short_reason(original)}") from original


def _is_connect_failure(exc: BaseException) -> bool:
    message = str(exc).lower()
    return any(hint in message for hint in ("connection refused", "could not connect", "connection failed"))


_REASONS = (
    (re.compile(r"connection refused", re.IGNORECASE), "connection refused"),
    (re.compile(r"password authentication failed", re.IGNORECASE), "password authentication failed"),
    (re.compile(r"timeout expired|timed out", re.IGNORECASE), "connection timed out"),
    (re.compile(r'database "([^"]+)" does not exist', re.IGNORECASE), None),
    (re.compile(r"could not translate host name|Name or service not known|nodename nor servname", re.IGNORECASE), "unknown host"),
    (re.compile(r"unable to open database file", re.IGNORECASE), "unable to open database file"),
    (re.compile(r"server closed the connection|terminating connection|connection is closed", re.IGNORECASE), "connection lost"),
)


def short_reason(exc: BaseException) -> str:
    """One short line for a driver error: no DSN, no password, no multi-line hints."""
    message = str(getattr(exc, "orig", None) or exc)
    for pattern, reason in _REASONS:
        found = pattern.search(message)
        if found:
            return reason or found.group(0)
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", first_line)[:200]


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for units of work: `with factory() as s, s.begin(): repository.f(session=s)`."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def check_connection(engine: Engine) -> None:
    """Raise DatabaseUnavailable now rather than at the first real query."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"cannot reach {describe_url(engine.url)}: {short_reason(exc)}") from exc


def migrate(engine: Engine) -> None:
    """Alembic `upgrade head` from infra/migrations; safe to run from many processes at once.

    Postgres: a transaction-scoped advisory lock serialises migrators. SQLite: the engine's
    BEGIN IMMEDIATE does. Either way the loser then finds the schema already at head.
    """
    from alembic import command
    from alembic.config import Config

    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise DatabaseUnavailable(f"cannot migrate: Alembic scripts not found in {MIGRATIONS_DIR}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            else:
                conn.execute(text("SELECT 1"))  # opens the (IMMEDIATE) transaction first
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
    except DBAPIError as exc:
        raise DatabaseUnavailable(f"cannot migrate {describe_url(engine.url)}: {short_reason(exc)}") from exc

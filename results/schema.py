"""The results database schema: one definition for Postgres and SQLite.

Alembic migrations in `infra/migrations/versions/` create exactly these tables; a test compares
the migrated database against this metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql

JOB_STATES = ("queued", "running", "done")
BATCH_STATES = ("queued", "done")

# Explicit constraint names so Alembic migrations are stable on both dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in and out; SQLite stores naive text, so the zone is re-attached."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: results timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


# digits: [{"digit": "4", "confidence": 0.99}, ...]; JSONB on Postgres for querying.
DigitsJSON = JSON().with_variant(postgresql.JSONB(), "postgresql")
# BIGINT ids on Postgres; SQLite only auto-increments an INTEGER PRIMARY KEY.
PhotoId = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source", Text, nullable=False),
    Column("model_version", String(200), nullable=False),
    Column("profile", String(200)),
    Column("force", Boolean, nullable=False, default=False),
    Column("state", String(16), nullable=False, default="queued"),
    Column("total", Integer, nullable=False, default=0),
    Column("n_pending", Integer, nullable=False, default=0),
    Column("n_accepted", Integer, nullable=False, default=0),
    Column("n_review", Integer, nullable=False, default=0),
    Column("n_unreadable", Integer, nullable=False, default=0),
    Column("n_error", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False, default=utc_now),
    Column("started_at", UTCDateTime),
    # Set by set_job_total when listing has finished: a job is never `done` before that,
    # however quickly workers drain the batches queued so far.
    Column("listed_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Index(None, "created_at"),
)

batches = Table(
    "batches",
    metadata,
    Column("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("batch_no", Integer, nullable=False),
    Column("size", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False, default="queued"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now),
    PrimaryKeyConstraint("job_id", "batch_no"),
    Index(None, "job_id", "state"),
)

photos = Table(
    "photos",
    metadata,
    Column("id", PhotoId, primary_key=True, autoincrement=True),
    Column("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("source_uri", Text, nullable=False),
    Column("batch_no", Integer, nullable=False),
    Column("etag", String(200)),
    Column("size_bytes", BigInteger),
    Column("reading", String(64)),
    Column("value", String(64)),
    Column("confidence", Float),
    Column("digits", DigitsJSON),
    Column("status", String(16), nullable=False, default="pending"),
    Column("reason", Text),
    Column("model_version", String(200)),
    Column("processing_ms", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False, default=utc_now),
    Column("updated_at", UTCDateTime, nullable=False, default=utc_now, onupdate=utc_now),
    Column("corrected_reading", String(64)),
    Column("reviewer", String(200)),
    Column("reviewed_at", UTCDateTime),
    UniqueConstraint("job_id", "source_uri"),
    Index(None, "job_id", "batch_no"),
    Index(None, "job_id", "status"),
    # already_read_uris: "was this object (uri + etag) read by this model before?"
    Index(None, "source_uri", "model_version"),
)

STATUS_COUNT_COLUMNS = {
    "pending": jobs.c.n_pending,
    "accepted": jobs.c.n_accepted,
    "review": jobs.c.n_review,
    "unreadable": jobs.c.n_unreadable,
    "error": jobs.c.n_error,
}

"""Initial schema: jobs, batches, photos.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("profile", sa.String(200)),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        *(sa.Column(f"n_{s}", sa.Integer(), nullable=False) for s in ("pending", "accepted", "review", "unreadable", "error")),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("listed_at", TS),
        sa.Column("finished_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_table(
        "batches",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "batch_no", name="pk_batches"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_batches_job_id_jobs", ondelete="CASCADE"),
    )
    op.create_index("ix_batches_job_id_state", "batches", ["job_id", "state"])
    op.create_table(
        "photos",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(200)),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("reading", sa.String(64)),
        sa.Column("value", sa.String(64)),
        sa.Column("confidence", sa.Float()),
        sa.Column("digits", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("model_version", sa.String(200)),
        sa.Column("processing_ms", sa.Float()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("corrected_reading", sa.String(64)),
        sa.Column("reviewer", sa.String(200)),
        sa.Column("reviewed_at", TS),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
        sa.UniqueConstraint("job_id", "source_uri", name="uq_photos_job_id_source_uri"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_photos_job_id_jobs", ondelete="CASCADE"),
    )
    op.create_index("ix_photos_job_id_batch_no", "photos", ["job_id", "batch_no"])
    op.create_index("ix_photos_job_id_status", "photos", ["job_id", "status"])
    op.create_index("ix_photos_source_uri_model_version", "photos", ["source_uri", "model_version"])


def downgrade() -> None:
    op.drop_table("photos")
    op.drop_table("batches")
    op.drop_table("jobs")

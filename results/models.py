"""Typed values the repository hands out and takes in (no SQLAlchemy rows leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from model.reading import Reading
from storage.refs import PhotoRef


@dataclass(frozen=True)
class PhotoOutcome:
    """What a worker learned about one photo of a batch."""

    uri: str
    reading: Reading
    processing_ms: float


@dataclass(frozen=True)
class BatchWork:
    """A batch as a worker needs it. `photos` are the batch's photos still `pending`
    (all of them on a first run); `done` means nothing is owed and the task can ack."""

    job_id: str
    batch_no: int
    attempts: int
    photos: list[PhotoRef]
    done: bool


@dataclass(frozen=True)
class JobSummary:
    job_id: str
    source: str
    model_version: str
    profile: str | None
    force: bool
    state: str
    total: int
    counts: dict[str, int]  # every Status value -> rows in that status
    batches_total: int
    batches_owed: int
    created_at: datetime
    started_at: datetime | None
    listed_at: datetime | None  # None while the producer is still listing the source
    finished_at: datetime | None

    @property
    def id(self) -> str:
        return self.job_id

    @property
    def finished(self) -> int:
        """Photos with a final status (anything but pending)."""
        return self.total - self.counts.get("pending", 0)

    def to_json_dict(self) -> dict:
        row = dict(self.__dict__)
        for key in ("created_at", "started_at", "listed_at", "finished_at"):
            row[key] = row[key].isoformat() if row[key] else None
        return row


@dataclass(frozen=True)
class ResultRow:
    """One photo's stored result."""

    source: str
    status: str
    reading: str | None = None
    confidence: float | None = None
    reason: str | None = None
    digits: list[dict] = field(default_factory=list)
    model_version: str | None = None
    value: str | None = None
    etag: str | None = None
    size: int | None = None
    processing_ms: float | None = None
    batch_no: int | None = None
    attempts: int = 0
    updated_at: datetime | None = None
    corrected_reading: str | None = None
    reviewer: str | None = None
    reviewed_at: datetime | None = None

    def to_json_dict(self) -> dict:
        """The DESIGN.md jsonl line (source, reading, confidence, status, reason, digits,
        model_version) followed by the stored extras."""
        row = dict(self.__dict__)
        for key in ("updated_at", "reviewed_at"):
            row[key] = row[key].isoformat() if row[key] else None
        row["digits"] = list(row["digits"] or [])
        head = ("source", "reading", "confidence", "status", "reason", "digits", "model_version")
        return {**{k: row.pop(k) for k in head}, **row}

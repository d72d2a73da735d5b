"""Reading stored results back (exports, `meter-ocr results`) and recording reviews."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from model.reading import Status
from results.models import ResultRow
from results.schema import photos, utc_now

RESULTS_PAGE_SIZE = 1000


def iter_results(*, session: Session, job_id: str, status: str | None = None) -> Iterator[ResultRow]:
    """The job's rows in insertion order, optionally of one status, streamed page by page.

    `status` is validated against Status and only ever bound as a parameter.
    """
    conditions = [photos.c.job_id == job_id]
    if status is not None:
        conditions.append(photos.c.status == parse_status(status).value)
    last_id = 0
    page_size = RESULTS_PAGE_SIZE
    while True:
        page = session.execute(
            select(photos).where(*conditions, photos.c.id > last_id).order_by(photos.c.id).limit(page_size)
        ).all()
        for row in page:
            yield _result_row(row)
        if len(page) < page_size:
            return
        last_id = page[-1].id


def parse_status(status: str) -> Status:
    try:
        return Status(status)
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise ValueError(f"unknown status {status!r} (choose from {choices})") from None


def _result_row(row) -> ResultRow:
    return ResultRow(
        source=row.source_uri, status=row.status, reading=row.reading, confidence=row.confidence,
        reason=row.reason, digits=list(row.digits or []), model_version=row.model_version, value=row.value,
        etag=row.etag, size=row.size_bytes, processing_ms=row.processing_ms, batch_no=row.batch_no,
        attempts=row.attempts, updated_at=row.updated_at, corrected_reading=row.corrected_reading,
        reviewer=row.reviewer, reviewed_at=row.reviewed_at,
    )


def apply_review(*, session: Session, job_id: str, uri: str, corrected_reading: str, reviewer: str) -> None:
    """Store a person's corrected reading (digits only) for one photo; its status is kept."""
    if not corrected_reading.isdigit() or not corrected_reading.isascii() or len(corrected_reading) > 64:
        raise ValueError(f"corrected reading must be 1-64 digits only, got {corrected_reading!r}")
    if not reviewer.strip() or len(reviewer.strip()) > 200:
        raise ValueError("reviewer must be named (at most 200 characters)")
    now = utc_now()
    result = session.execute(
        update(photos)
        .where(photos.c.job_id == job_id, photos.c.source_uri == uri)
        .values(corrected_reading=corrected_reading, reviewer=reviewer.strip(), reviewed_at=now, updated_at=now)
    )
    if result.rowcount == 0:
        raise LookupError(f"no photo {uri} in job {job_id}")

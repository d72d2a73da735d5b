"""Repository functions for the results database.

Every function takes `session=` and never commits: callers own the unit of work
(`with factory() as session, session.begin(): ...`). Writes are idempotent upserts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from model.reading import FINAL_STATUSES, Status
from results.jobs import (
    add_to_counts,
    advance_job,
    create_job,
    find_unfinished_job,
    get_job,
    latest_job_id,
    list_jobs,
    lock_job,
    mark_job_state,
    max_batch_no,
    owed_batches,
    queued_among,
    set_job_total,
)
from results.models import BatchWork, JobSummary, PhotoOutcome, ResultRow
from results.rows import apply_review, iter_results, parse_status
from results.schema import batches, photos, utc_now
from results.upsert import KEYS_PER_IN_CLAUSE, chunks, insert_ignoring_conflicts, unique_first, unique_last, upsert
from storage.refs import PhotoRef

__all__ = [
    "BatchWork", "JobSummary", "PhotoOutcome", "ResultRow", "add_photos", "already_read_uris",
    "apply_review", "create_job", "get_job", "iter_results", "latest_job_id", "list_jobs",
    "load_batch", "mark_job_state", "owed_batches", "parse_status", "record_attempt", "record_photo_attempt",
    "save_batch", "set_job_total", "find_unfinished_job", "queued_among", "max_batch_no",
]

REREAD_UNLESS_FORCED = tuple(s.value for s in FINAL_STATUSES if s is not Status.ERROR)


def already_read_uris(*, session: Session, refs: Sequence[PhotoRef], model_version: str) -> set[str]:
    """URIs of refs this model already read (accepted, review or unreadable), in any job.

    A ref with an ETag matches only a row with the same ETag (a changed object is read again);
    a ref without one matches on the URI alone.
    """
    wanted = {ref.uri: ref.etag for ref in refs}
    found: set[str] = set()
    for part in chunks(list(wanted), KEYS_PER_IN_CLAUSE):
        rows = session.execute(
            select(photos.c.source_uri, photos.c.etag).where(
                photos.c.source_uri.in_(part),
                photos.c.model_version == model_version,
                photos.c.status.in_(REREAD_UNLESS_FORCED),
            )
        )
        found.update(uri for uri, etag in rows if wanted[uri] is None or wanted[uri] == etag)
    return found


def add_photos(
    *, session: Session, job_id: str, refs: Sequence[PhotoRef], batch_size: int, start_batch_no: int = 0
) -> list[int]:
    """Insert `pending` rows for refs, `batch_size` per batch numbered from `start_batch_no`,
    and their `queued` batches. Returns the batch numbers that hold photos from this call.

    Idempotent on (job_id, uri): a re-run adds nothing twice; a photo already in the job keeps
    its batch. A done batch that receives new photos is queued again.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    refs = unique_first(refs, key=lambda ref: ref.uri)
    if not refs:
        return []
    lock_job(session, job_id, lock=False)
    now = utc_now()
    rows = [
        {
            "job_id": job_id, "source_uri": ref.uri, "batch_no": start_batch_no + i // batch_size,
            "etag": ref.etag, "size_bytes": ref.size, "status": Status.PENDING.value, "attempts": 0,
            "created_at": now, "updated_at": now,
        }
        for i, ref in enumerate(refs)
    ]
    first, last = rows[0]["batch_no"], rows[-1]["batch_no"]
    # New rows all land in [first, last]; rows already in the job keep their batch. So the rows
    # added = rows in that range after - before (exact with one producer per job).
    before = session.execute(
        select(func.count()).where(photos.c.job_id == job_id, photos.c.batch_no.between(first, last))
    ).scalar_one()
    # The slow part, the photo rows, goes in before the job-row lock: workers saving this job's
    # earlier batches wait only for the short batch and count updates, not for the whole chunk.
    insert_ignoring_conflicts(session, photos, rows, keys=["job_id", "source_uri"])
    lock_job(session, job_id)  # same lock order as save_batch: job row, then batch rows
    batch_nos, after = _upsert_batches(session, job_id, first=first, last=last)
    added = after - before
    add_to_counts(session, job_id, Counter({Status.PENDING.value: added}), added=added)
    return batch_nos


def _statuses_of(session: Session, job_id: str, uris: Sequence[str]) -> dict[str, str]:
    """{uri: status} for those of `uris` that already have a row in the job."""
    found: dict[str, str] = {}
    for part in chunks(list(uris), KEYS_PER_IN_CLAUSE):
        found.update(
            session.execute(
                select(photos.c.source_uri, photos.c.status).where(photos.c.job_id == job_id, photos.c.source_uri.in_(part))
            ).all()
        )
    return found


def _upsert_batches(session: Session, job_id: str, *, first: int, last: int) -> tuple[list[int], int]:
    """Create or resize the batches numbered first..last; returns (their numbers, rows in them)."""
    is_pending = case((photos.c.status == Status.PENDING.value, 1), else_=0)
    filled = session.execute(
        select(photos.c.batch_no, func.count(), func.sum(is_pending))
        .where(photos.c.job_id == job_id, photos.c.batch_no.between(first, last))
        .group_by(photos.c.batch_no)
        .order_by(photos.c.batch_no)
    ).all()
    now = utc_now()
    rows = [
        {"job_id": job_id, "batch_no": no, "size": size, "attempts": 0, "updated_at": now,
         "state": "queued" if pending else "done"}
        for no, size, pending in filled
    ]
    if rows:
        upsert(session, batches, rows, keys=["job_id", "batch_no"], update=["size", "updated_at"])
        requeue = [row["batch_no"] for row in rows if row["state"] == "queued"]
        session.execute(
            update(batches)
            .where(batches.c.job_id == job_id, batches.c.batch_no.in_(requeue), batches.c.state != "queued")
            .values(state="queued", updated_at=now)
        )
    return [row["batch_no"] for row in rows], sum(row["size"] for row in rows)


def load_batch(*, session: Session, job_id: str, batch_no: int) -> BatchWork | None:
    """The batch's pending photos in insertion order, its attempts so far, and whether it is done."""
    batch = session.execute(
        select(batches.c.state, batches.c.attempts).where(batches.c.job_id == job_id, batches.c.batch_no == batch_no)
    ).first()
    if batch is None:
        return None
    pending = session.execute(
        select(photos.c.source_uri, photos.c.etag, photos.c.size_bytes)
        .where(photos.c.job_id == job_id, photos.c.batch_no == batch_no, photos.c.status == Status.PENDING.value)
        .order_by(photos.c.id)
    )
    refs = [PhotoRef(uri=uri, etag=etag, size=size) for uri, etag, size in pending]
    return BatchWork(job_id=job_id, batch_no=batch_no, attempts=batch.attempts, photos=refs, done=batch.state == "done")


def record_attempt(*, session: Session, job_id: str, batch_no: int, count_photos: bool = True) -> int:
    """Count one more attempt at the batch (and, unless `count_photos` is False, at each of its
    pending photos); returns the batch's new total.

    The cap lives here, not in Redis: Redis has no dead-letter queue. Takes the job-row lock
    first, like every writer of photos and batches, so a redelivered batch counting its attempt
    while the original saves the same rows cannot deadlock with it. A retry that reads photos one
    by one passes `count_photos=False` and counts each photo with `record_photo_attempt`.
    """
    lock_job(session, job_id)
    attempts = session.execute(
        update(batches)
        .where(batches.c.job_id == job_id, batches.c.batch_no == batch_no)
        .values(attempts=batches.c.attempts + 1, updated_at=utc_now())
        .returning(batches.c.attempts)
    ).scalar()
    if attempts is None:
        raise LookupError(f"no batch {batch_no} in job {job_id}")
    if not count_photos:
        return attempts
    session.execute(
        update(photos)
        .where(photos.c.job_id == job_id, photos.c.batch_no == batch_no, photos.c.status == Status.PENDING.value)
        .values(attempts=photos.c.attempts + 1)
    )
    return attempts


def record_photo_attempt(*, session: Session, job_id: str, uri: str) -> int:
    """Count one more attempt at one photo (commit before reading it, so that a photo that kills
    its process is still counted); returns its new total, 0 if it is no longer pending."""
    lock_job(session, job_id)
    attempts = session.execute(
        update(photos)
        .where(photos.c.job_id == job_id, photos.c.source_uri == uri, photos.c.status == Status.PENDING.value)
        .values(attempts=photos.c.attempts + 1)
        .returning(photos.c.attempts)
    ).scalar()
    return attempts or 0


def save_batch(*, session: Session, job_id: str, batch_no: int, outcomes: Sequence[PhotoOutcome]) -> None:
    """Upsert the outcomes, mark the batch done once none of its photos is pending, update the
    job's counts by the rows' status changes, and mark the job done when no batch is owed.

    Safe to run twice (at-least-once delivery): the second run rewrites the same rows.
    The job row is locked first, so concurrent batches of one job change its counts in turn.
    """
    for outcome in outcomes:
        if outcome.reading.status not in FINAL_STATUSES:
            raise ValueError(f"{outcome.uri}: outcome status must be final, not {outcome.reading.status}")
    lock_job(session, job_id)
    now = utc_now()
    rows = [_outcome_row(job_id, batch_no, outcome, now) for outcome in unique_last(outcomes, key=lambda o: o.uri)]
    old = _statuses_of(session, job_id, [row["source_uri"] for row in rows])
    if rows:
        columns = ["status", "reading", "value", "confidence", "digits", "reason", "model_version",
                   "processing_ms", "updated_at"]
        upsert(session, photos, rows, keys=["job_id", "source_uri"], update=columns)
    delta = Counter(row["status"] for row in rows)
    delta.subtract(Counter(old.values()))
    add_to_counts(session, job_id, delta, added=len(rows) - len(old))
    still_pending = session.execute(
        select(func.count()).select_from(photos).where(
            photos.c.job_id == job_id, photos.c.batch_no == batch_no, photos.c.status == Status.PENDING.value
        )
    ).scalar_one()
    if still_pending == 0:
        session.execute(
            update(batches)
            .where(batches.c.job_id == job_id, batches.c.batch_no == batch_no)
            .values(state="done", updated_at=now)
        )
    advance_job(session, job_id)


def _outcome_row(job_id: str, batch_no: int, outcome: PhotoOutcome, now) -> dict:
    reading = outcome.reading
    return {
        "job_id": job_id, "source_uri": outcome.uri, "batch_no": batch_no, "status": reading.status.value,
        "reading": reading.reading, "value": reading.value, "confidence": reading.confidence,
        "digits": [asdict(d) for d in reading.digits], "reason": reading.reason,
        "model_version": reading.model_version, "processing_ms": outcome.processing_ms,
        "attempts": 0, "created_at": now, "updated_at": now,
    }

"""Job-level repository functions: create, count, state, summaries. Re-exported by repository."""

from __future__ import annotations

import logging
import secrets
from collections import Counter

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from results.models import JobSummary
from results.schema import JOB_STATES, STATUS_COUNT_COLUMNS, batches, jobs, photos, utc_now

log = logging.getLogger(__name__)


def new_job_id() -> str:
    """12 hex characters: short enough to type, 48 bits so two jobs never collide in practice."""
    return secrets.token_hex(6)


def create_job(*, session: Session, source: str, model_version: str, profile: str | None, force: bool) -> str:
    """Record a new `queued` job with no photos yet; returns its id."""
    job_id = new_job_id()
    session.execute(
        jobs.insert().values(
            id=job_id, source=source, model_version=model_version, profile=profile, force=force,
            state="queued", total=0, created_at=utc_now(), **{c.name: 0 for c in STATUS_COUNT_COLUMNS.values()},
        )
    )
    return job_id


def lock_job(session: Session, job_id: str, *, lock: bool = True) -> None:
    """Hold the job row until commit (Postgres FOR UPDATE; SQLite's BEGIN IMMEDIATE already does).
    LookupError if there is no such job; `lock=False` only checks that."""
    query = select(jobs.c.id).where(jobs.c.id == job_id)
    if session.execute(query.with_for_update() if lock else query).first() is None:
        raise LookupError(f"no job {job_id}")


def refresh_job(session: Session, job_id: str) -> None:
    """Recount total and per-status counts from the photo rows (a full scan of the job's index
    entries: run when listing ends and when the job finishes, not per batch)."""
    by_status = dict(
        session.execute(
            select(photos.c.status, func.count()).where(photos.c.job_id == job_id).group_by(photos.c.status)
        ).all()
    )
    values = {column.name: by_status.get(status, 0) for status, column in STATUS_COUNT_COLUMNS.items()}
    values["total"] = sum(by_status.values())
    session.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def add_to_counts(session: Session, job_id: str, delta: Counter, *, added: int) -> None:
    """Apply a batch's status changes to the job's counts. The caller holds the job-row lock and
    computed `delta` from the rows' old and new statuses, so the counts stay equal to the rows
    without recounting a million-row job after every batch."""
    values = {STATUS_COUNT_COLUMNS[s].name: STATUS_COUNT_COLUMNS[s] + n for s, n in delta.items() if n}
    if added:
        values["total"] = jobs.c.total + added
    if values:
        session.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def advance_job(session: Session, job_id: str) -> None:
    """After a batch is saved: `running`, or `done` (counts re-verified from the rows, finish time
    set) once the job is fully listed and no batch is owed."""
    now = utc_now()
    listed = session.execute(select(jobs.c.listed_at).where(jobs.c.id == job_id)).scalar() is not None
    finished = listed and _count_owed(session, job_id) == 0
    if finished:
        refresh_job(session, job_id)
    session.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            state="done" if finished else "running",
            started_at=func.coalesce(jobs.c.started_at, now),
            finished_at=func.coalesce(jobs.c.finished_at, now) if finished else None,
        )
    )


def set_job_total(*, session: Session, job_id: str, total: int | None = None) -> None:
    """Call once listing has finished: fixes the total and lets the job become `done` (at once,
    if the workers already drained every batch or the source was empty).

    The total is always counted from the photo rows; a caller's own `total` is only
    cross-checked (a mismatch is logged, e.g. a listing that yielded the same URI twice).
    """
    lock_job(session, job_id)
    session.execute(update(jobs).where(jobs.c.id == job_id).values(listed_at=func.coalesce(jobs.c.listed_at, utc_now())))
    refresh_job(session, job_id)
    if _count_owed(session, job_id) == 0:
        advance_job(session, job_id)
    if total is not None:
        rows = session.execute(select(jobs.c.total).where(jobs.c.id == job_id)).scalar_one()
        if rows != total:
            log.warning("job %s: caller counted %d photos, the results DB holds %d rows", job_id, total, rows)


def mark_job_state(*, session: Session, job_id: str, state: str) -> None:
    if state not in JOB_STATES:
        raise ValueError(f"unknown job state {state!r} (choose from {', '.join(JOB_STATES)})")
    now = utc_now()
    values: dict = {"state": state}
    if state in ("running", "done"):
        values["started_at"] = func.coalesce(jobs.c.started_at, now)
    values["finished_at"] = now if state == "done" else None
    result = session.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
    if result.rowcount == 0:
        raise LookupError(f"no job {job_id}")


def _count_owed(session: Session, job_id: str) -> int:
    return session.execute(
        select(func.count()).select_from(batches).where(batches.c.job_id == job_id, batches.c.state != "done")
    ).scalar_one()


def owed_batches(*, session: Session, job_id: str) -> list[int]:
    """Batch numbers not yet done, ascending: what `resume` re-queues."""
    return list(
        session.execute(
            select(batches.c.batch_no)
            .where(batches.c.job_id == job_id, batches.c.state != "done")
            .order_by(batches.c.batch_no)
        ).scalars()
    )


def get_job(*, session: Session, job_id: str) -> JobSummary | None:
    row = session.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return _summary(session, row) if row is not None else None


def latest_job_id(*, session: Session) -> str | None:
    return session.execute(select(jobs.c.id).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(1)).scalar()


def list_jobs(*, session: Session, limit: int = 20) -> list[JobSummary]:
    """The newest jobs first."""
    rows = session.execute(select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)).all()
    return [_summary(session, row) for row in rows]


def _summary(session: Session, row) -> JobSummary:
    batches_total, batches_owed = session.execute(
        select(func.count(), func.count().filter(batches.c.state != "done")).where(batches.c.job_id == row.id)
    ).one()
    return JobSummary(
        job_id=row.id, source=row.source, model_version=row.model_version, profile=row.profile, force=row.force,
        state=row.state, total=row.total,
        counts={status: getattr(row, column.name) for status, column in STATUS_COUNT_COLUMNS.items()},
        batches_total=batches_total, batches_owed=batches_owed or 0,
        created_at=row.created_at, started_at=row.started_at, listed_at=row.listed_at,
        finished_at=row.finished_at,
    )



def find_unfinished_job(
    *, session: Session, source: str, model_version: str, profile: str | None
) -> JobSummary | None:
    """The newest job of this source and model (and profile) that is not `done` and was not
    forced: what a re-run of `enqueue` continues instead of starting the same work again."""
    profile_matches = jobs.c.profile.is_(None) if profile is None else jobs.c.profile == profile
    row = session.execute(
        select(jobs)
        .where(jobs.c.source == source, jobs.c.model_version == model_version, profile_matches,
               jobs.c.state != "done", jobs.c.force.is_(False))
        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        .limit(1)
    ).first()
    return _summary(session, row) if row is not None else None


def queued_among(*, session: Session, job_id: str, batch_nos: list[int]) -> list[int]:
    """Those of `batch_nos` still `queued` (not done), ascending."""
    if not batch_nos:
        return []
    return list(
        session.execute(
            select(batches.c.batch_no)
            .where(batches.c.job_id == job_id, batches.c.batch_no.in_(batch_nos), batches.c.state != "done")
            .order_by(batches.c.batch_no)
        ).scalars()
    )


def max_batch_no(*, session: Session, job_id: str) -> int:
    """The job's highest batch number, -1 when it has none."""
    found = session.execute(select(func.max(batches.c.batch_no)).where(batches.c.job_id == job_id)).scalar()
    return -1 if found is None else found

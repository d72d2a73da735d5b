"""Job creation and (re-)queueing: what `enqueue`, `resume` and `run` do, minus the CLI.

The order matters for crash safety: every photo and batch is committed to the results DB
*before* any task is sent, so a worker never receives a batch it cannot find, and a producer
killed half way leaves a job whose owed batches `resume` can re-queue.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.refs import PhotoRef

DEFAULT_LISTING_CHUNK = 2000  # refs held in memory at once while listing a large bucket
DEFAULT_POLL_S = 1.0


@dataclass(frozen=True)
class JobPlan:
    """A recorded job: how many photos were listed, skipped as already read, and the batches
    owed (all of them, for `run`). `continued`: an unfinished job of the same source was taken up."""

    job_id: str
    listed: int
    skipped: int
    batches: tuple[int, ...]
    continued: bool = False

    @property
    def total(self) -> int:
        return self.listed - self.skipped


def model_version(model_dir: Path) -> str:
    """The version string workers store in every row, read without TensorFlow.

    Mirrors `model.runtime.load_models`: the reader's metadata version, plus `+<locator version>`
    when a locator ships (a model-tier test keeps the two in step)."""
    model_dir = Path(model_dir)
    reader = _metadata_version(model_dir / "reader", required=True)
    locator = _metadata_version(model_dir / "locator", required=False)
    return reader if locator is None else f"{reader}+{locator}"


def _metadata_version(folder: Path, *, required: bool) -> str | None:
    meta_path = folder / "metadata.json"
    if not meta_path.is_file() and not required:
        return None
    try:
        return str(json.loads(meta_path.read_text()).get("version", folder.name))
    except (OSError, ValueError, AttributeError) as exc:
        raise FileNotFoundError(f"no usable model metadata at {meta_path} ({type(exc).__name__})") from None


def record_job(
    source: str,
    refs: Iterable[PhotoRef],
    *,
    session_factory,
    model_version: str,
    profile: str | None,
    force: bool,
    batch_size: int,
    on_batches: Callable[[str, list[int]], object] = lambda job_id, batch_nos: None,
) -> JobPlan:
    """Create a job, add its photos in batches (skipping ones already read by this model unless
    `force`), set its total.

    `on_batches(job_id, batch_nos)` runs after each listing chunk is committed, so `enqueue` can
    queue those batches while the rest of a large bucket is still being listed: workers start at
    once, and never receive a batch whose rows are not in the DB yet.

    Without `force`, an unfinished job of the same source, model and profile is continued rather
    than started twice: a producer killed mid-listing and run again adds only the missing photos
    and re-queues the batches it may never have sent; two runs at once take turns on a lock per
    source, and the second finds the first's job fully listed and queues nothing.
    """
    from results.locks import lock_key, source_lock

    if force:
        return _record(source, refs, None, session_factory=session_factory, model_version=model_version,
                       profile=profile, force=force, batch_size=batch_size, on_batches=on_batches)
    with source_lock(session_factory.kw["bind"], lock_key(source, model_version, profile)):
        with session_factory() as session, session.begin():
            from results import repository as repo

            unfinished = repo.find_unfinished_job(session=session, source=source, model_version=model_version,
                                                  profile=profile)
        return _record(source, refs, unfinished, session_factory=session_factory, model_version=model_version,
                       profile=profile, force=force, batch_size=batch_size, on_batches=on_batches)


def _record(source, refs, unfinished, *, session_factory, model_version, profile, force, batch_size,
            on_batches) -> JobPlan:
    from results import repository as repo

    if unfinished is not None and unfinished.listed_at is not None:
        # Fully listed by an earlier run that queued its batches (workers may still be on them):
        # nothing to add or send; `resume` re-queues batches a broker lost.
        owed = owed_batches(unfinished.job_id, session_factory=session_factory)
        return JobPlan(unfinished.job_id, unfinished.total, 0, tuple(owed), continued=True)
    chunks = _chunked(refs, DEFAULT_LISTING_CHUNK)
    first = next(chunks, [])  # a source that cannot be listed fails here, before any job exists
    if unfinished is None:
        with session_factory() as session, session.begin():
            job_id = repo.create_job(
                session=session, source=source, model_version=model_version, profile=profile, force=force
            )
        owed: list[int] = []
    else:
        job_id = unfinished.job_id  # its producer died mid-listing: queue what it left owed
        owed = owed_batches(job_id, session_factory=session_factory)
        if owed:
            on_batches(job_id, owed)
    listed = skipped = 0
    batches: list[int] = list(owed)
    next_batch_no = _next_batch_no(job_id, session_factory)
    for chunk in itertools.chain([first] if first else [], chunks):
        listed += len(chunk)
        added, already = _add_chunk(chunk, job_id, session_factory, model_version=model_version, force=force,
                                    batch_size=batch_size, start_batch_no=next_batch_no)
        skipped += already
        next_batch_no = max(added, default=next_batch_no - 1) + 1
        fresh = [no for no in added if no not in batches]
        if fresh:
            batches += fresh
            on_batches(job_id, fresh)
    with session_factory() as session, session.begin():
        # Also marks the job done when nothing was owed (an empty source, or all skipped).
        # A continued job's rows include photos read before the restart: count them, don't check.
        repo.set_job_total(session=session, job_id=job_id, total=None if unfinished else listed - skipped)
    return JobPlan(job_id, listed, skipped, tuple(batches), continued=unfinished is not None)


def _next_batch_no(job_id: str, session_factory) -> int:
    from results import repository as repo

    with session_factory() as session, session.begin():
        return repo.max_batch_no(session=session, job_id=job_id) + 1


def _add_chunk(chunk: list[PhotoRef], job_id: str, session_factory, *, model_version: str, force: bool,
               batch_size: int, start_batch_no: int) -> tuple[list[int], int]:
    """One transaction: drop photos already read (unless forced), add the rest in batches.
    Returns (new batch numbers still owed, how many were skipped)."""
    from results import repository as repo

    with session_factory() as session, session.begin():
        skipped = 0
        if not force:
            done = repo.already_read_uris(session=session, refs=chunk, model_version=model_version)
            chunk = [ref for ref in chunk if ref.uri not in done]
            skipped = len(done)
        if not chunk:
            return [], skipped
        added = repo.add_photos(session=session, job_id=job_id, refs=chunk, batch_size=batch_size,
                                start_batch_no=start_batch_no)
        owed = repo.queued_among(session=session, job_id=job_id, batch_nos=list(added))
    return owed, skipped


def owed_batches(job_id: str, *, session_factory) -> list[int]:
    """Batches of the job not yet written (what `resume` re-queues)."""
    from results import repository as repo

    with session_factory() as session, session.begin():
        if repo.get_job(session=session, job_id=job_id) is None:
            raise LookupError(f"no job {job_id}")
        return list(repo.owed_batches(session=session, job_id=job_id))


def get_summary(job_id: str | None, *, session_factory):
    """The job's summary (the latest job when `job_id` is None); LookupError if there is none."""
    from results import repository as repo

    with session_factory() as session, session.begin():
        job_id = job_id or repo.latest_job_id(session=session)
        summary = repo.get_job(session=session, job_id=job_id) if job_id else None
    if summary is None:
        raise LookupError(f"no job {job_id}" if job_id else "no jobs yet")
    return summary


def wait_for_job(
    job_id: str,
    *,
    session_factory,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
    poll_s: float = DEFAULT_POLL_S,
    timeout_s: float | None = None,
):
    """Poll the results DB until every photo of the job has a final row; returns the summary."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        summary = get_summary(job_id, session_factory=session_factory)
        done = finished_count(summary)
        on_progress(done, summary.total)
        if done >= summary.total:
            return summary
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id}: {done}/{summary.total} photos after {timeout_s:.0f}s")
        time.sleep(poll_s)


def finished_count(summary) -> int:
    """Photos of the job with a final status (anything but pending)."""
    return sum(n for status, n in summary.counts.items() if status != "pending")


def _chunked(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk

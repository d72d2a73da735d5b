"""One batch, start to finish: the unit of work shared by the Celery task and `meter-ocr run`.

load the batch -> count the attempt -> fetch the bytes concurrently -> decode each with size
guards -> ONE `read_images` call -> ONE transaction. A batch tried before (its last try crashed,
hung or was cut off) is read photo by photo instead, each photo counted before it is read, so a
poison photo ends as an `error` row after `max_attempts` while its neighbours are read
(`workers.isolate`). Photos that could not be fetched for a passing reason (throttling, an
unreachable endpoint) stay pending and the batch is retried with backoff.
No OpenCV or TensorFlow here: pixels are the model package's business.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded

from model.reading import Reading, Status
from results import repository
from results.repository import PhotoOutcome
from storage.fetch import FetchFailed, fetch_many
from storage.listing import local_root
from storage.refs import PhotoRef
from workers.decode import decode_all
from workers.resources import Resources

log = logging.getLogger(__name__)


class PhotosDeferred(RuntimeError):
    """Photos left pending because fetching them failed for a passing reason; retry the batch."""


@dataclass(frozen=True)
class BatchReport:
    """What one `process_batch` call did; `skipped` says why nothing was read."""

    job_id: str
    batch_no: int
    attempt: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None
    elapsed_s: float = 0.0

    @property
    def photos(self) -> int:
        return sum(self.counts.values())


def process_batch(job_id: str, batch_no: int, resources: Resources) -> BatchReport:
    """Read one queued batch and persist one row per photo. Safe to run twice (upserts).
    Raises PhotosDeferred (after saving the rest) when some photos must be fetched again later."""
    started = time.perf_counter()
    with resources.session_factory() as session, session.begin():
        work = repository.load_batch(session=session, job_id=job_id, batch_no=batch_no)
        if work is None or work.done:
            reason = "unknown batch" if work is None else "already done"
            return BatchReport(job_id, batch_no, skipped=reason)
        first_try = work.attempts == 0
        attempt = repository.record_attempt(session=session, job_id=job_id, batch_no=batch_no,
                                            count_photos=first_try)
        job = repository.get_job(session=session, job_id=job_id)
    profile = resolve_profile(getattr(job, "profile", None))
    root = local_root(job.source) if job is not None else None  # a folder job reads only inside it
    if first_try:
        outcomes = _read_or_save_partial(work, resources, profile, root)
    else:
        from workers.isolate import read_one_by_one  # imports this module

        outcomes = read_one_by_one(work, resources, profile=profile, root=root)
    counts = Counter(o.reading.status.value for o in outcomes)
    elapsed = time.perf_counter() - started
    log.info("job %s batch %s attempt %s: %s in %.2fs", job_id, batch_no, attempt, dict(counts), elapsed)
    return BatchReport(job_id, batch_no, attempt, dict(counts), elapsed_s=elapsed)


def _read_or_save_partial(work, resources: Resources, profile, root) -> list:
    """Read the whole batch and save it. On the soft time limit keep the rows already decided
    (the photos that failed to fetch or decode) and re-raise, so the retry reads only what is
    still pending; photos deferred for a passing fetch failure stay pending too."""
    finished: list = []
    deferred: list = []
    try:
        outcomes = read_photos(
            work.photos, models=resources.models, s3_client=resources.s3_client, settings=resources.settings,
            profile=profile, finished=finished, deferred=deferred, root=root,
        )
    except SoftTimeLimitExceeded:
        if finished:
            save_outcomes(work.job_id, work.batch_no, finished, resources)
        log.warning("job %s batch %s: soft time limit; kept %d finished rows", work.job_id, work.batch_no, len(finished))
        raise
    later = {uri for uri, _ in deferred}
    outcomes = [o for o in outcomes if o.uri not in later]
    save_outcomes(work.job_id, work.batch_no, outcomes, resources)
    if deferred:
        raise PhotosDeferred(f"{len(deferred)} photos left pending ({deferred[0][1]}); the batch will be retried")
    return outcomes


def save_outcomes(job_id: str, batch_no: int, outcomes: list, resources: Resources) -> None:
    with resources.session_factory() as session, session.begin():
        repository.save_batch(session=session, job_id=job_id, batch_no=batch_no, outcomes=outcomes)


def give_up(photos, tries: int, model_version: str) -> list:
    """Poison batch (it kept crashing or timing out): every photo becomes an `error` row."""
    reading = Reading.failed(Status.ERROR, f"gave up after {tries} attempts", model_version)
    return [PhotoOutcome(uri=p.uri, reading=reading, processing_ms=0) for p in photos]


def read_photos(photos, *, models, s3_client, settings, profile=None, crop=False, digits=None,
                finished: list | None = None, deferred: list | None = None, root=None) -> list:
    """Fetch, decode and read photos (PhotoRef-like, with `.uri`); one PhotoOutcome each, in
    order. `processing_ms` is the photo's own decode time plus its share of fetch and inference.
    `finished`, if given, receives each photo's outcome as soon as it is decided (for a caller
    interrupted by a time limit). `deferred`, if given, receives (uri, reason) for each photo
    whose fetch failed for a passing reason (its outcome is still an `error`, not in `finished`).
    `root`: local paths must resolve inside this folder."""
    started = time.perf_counter()
    payloads = fetch_many(
        [_as_ref(p) for p in photos],
        s3_client=s3_client,
        concurrency=settings.fetch_concurrency,
        max_bytes=settings.max_image_bytes,
        root=root,
    )
    fetch_share_ms = (time.perf_counter() - started) * 1000 / max(len(photos), 1)
    readings: list[Reading | None] = [None] * len(photos)
    cost_ms = [fetch_share_ms] * len(photos)
    decoded: dict[int, object] = {}

    def on_decoded(i: int, image, failure: str | None, decode_ms: float) -> None:
        # Runs as each photo is decided, so a time limit in mid-decode keeps the failures so far.
        cost_ms[i] += decode_ms
        if failure is None:
            decoded[i] = image
            return
        readings[i] = Reading.failed(Status.ERROR, failure, models.version)
        transient = isinstance(payloads[i], FetchFailed) and payloads[i].transient
        if transient and deferred is not None:
            deferred.append((photos[i].uri, failure))
        elif finished is not None:
            finished.append(PhotoOutcome(uri=photos[i].uri, reading=readings[i], processing_ms=round(cost_ms[i])))

    decode_all(payloads, settings, whole_photo=not crop, on_decoded=on_decoded)
    decoded = dict(sorted(decoded.items()))  # input order for the reader call
    t0 = time.perf_counter()
    batch_read = read_decoded(list(decoded.values()), models, profile=profile, crop=crop, digits=digits)
    share_ms = (time.perf_counter() - t0) * 1000 / max(len(decoded), 1)
    for i, reading in zip(decoded, batch_read):
        readings[i] = reading
        cost_ms[i] += share_ms
    return [PhotoOutcome(uri=p.uri, reading=r, processing_ms=round(c)) for p, r, c in zip(photos, readings, cost_ms)]


def read_decoded(images: list, models, *, profile=None, crop=False, digits=None) -> list[Reading]:
    """One batched pipeline call. If it raises, fall back to one call per image so that a single
    poison photo becomes an `error` row instead of failing its neighbours."""
    if not images:
        return []
    try:
        return _read(images, models, profile=profile, crop=crop, digits=digits)
    except SoftTimeLimitExceeded:
        raise
    except Exception:
        log.exception("batched read failed; retrying %d photos one by one", len(images))
    readings = []
    for image in images:
        try:
            readings.extend(_read([image], models, profile=profile, crop=crop, digits=digits))
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            reason = f"reader failed: {type(exc).__name__}: {exc}"[:500]
            readings.append(Reading.failed(Status.ERROR, reason, models.version))
    return readings


def _read(images: list, models, *, profile, crop: bool, digits: int | None) -> list[Reading]:
    from model.pipeline import read_images

    if digits and profile is None:
        from model.profiles import profile_for_digits

        profile = profile_for_digits(digits)
    return read_images(images, models, crop=crop, profile=profile)


def resolve_profile(spec: str | None):
    """The job's meter profile from its stored spec (None: the pipeline's defaults)."""
    if not spec:
        return None
    from model.profiles import parse_profile

    return parse_profile(spec)


def _as_ref(photo):
    if isinstance(photo, PhotoRef):
        return photo
    return PhotoRef(photo.uri, etag=getattr(photo, "etag", None), size=getattr(photo, "size", None))

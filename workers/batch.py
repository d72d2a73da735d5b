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
import os
import time
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded

from model.reading import Reading, Status
from results import repository
from results.repository import PhotoOutcome
from storage.fetch import FetchFailed, fetch_many
from storage.listing import local_root
from storage.refs import PhotoRef
from workers.resources import Resources

log = logging.getLogger(__name__)

# Decoding threads per process: enough to keep the cores busy while one batch decodes.
DEFAULT_DECODE_THREADS = max(2, min(4, len(os.sched_getaffinity(0))))


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
    for i, (image, failure, decode_ms) in enumerate(decode_all(payloads, settings, whole_photo=not crop)):
        cost_ms[i] += decode_ms
        if failure is None:
            decoded[i] = image
            continue
        readings[i] = Reading.failed(Status.ERROR, failure, models.version)
        transient = isinstance(payloads[i], FetchFailed) and payloads[i].transient
        if transient and deferred is not None:
            deferred.append((photos[i].uri, failure))
        elif finished is not None:
            finished.append(PhotoOutcome(uri=photos[i].uri, reading=readings[i], processing_ms=round(cost_ms[i])))
    t0 = time.perf_counter()
    batch_read = read_decoded(list(decoded.values()), models, profile=profile, crop=crop, digits=digits)
    share_ms = (time.perf_counter() - t0) * 1000 / max(len(decoded), 1)
    for i, reading in zip(decoded, batch_read):
        readings[i] = reading
        cost_ms[i] += share_ms
    return [PhotoOutcome(uri=p.uri, reading=r, processing_ms=round(c)) for p, r, c in zip(photos, readings, cost_ms)]


def decode_all(payloads: list, settings, *, whole_photo: bool) -> list[tuple[object | None, str | None, float]]:
    """(image, failure reason, decode ms) per payload, in order. Decoding runs on a few threads:
    OpenCV and Pillow release the GIL while they decode."""

    def decode_one(payload) -> tuple[object | None, str | None, float]:
        t0 = time.perf_counter()
        if isinstance(payload, FetchFailed):
            return None, payload.reason, 0.0
        image, failure = decode_photo(payload, settings, whole_photo=whole_photo)
        return image, failure, (time.perf_counter() - t0) * 1000

    if len(payloads) < 2:
        return [decode_one(p) for p in payloads]
    pool = ThreadPoolExecutor(max_workers=DEFAULT_DECODE_THREADS, thread_name_prefix="decode")
    try:
        return list(pool.map(decode_one, payloads))
    finally:
        # Never wait here for a decoder stuck in C: on the soft time limit that wait would
        # swallow the limit and lose the finished rows to the hard kill.
        pool.shutdown(wait=False, cancel_futures=True)


def decode_photo(data: bytes, settings, *, whole_photo: bool = True) -> tuple[object | None, str | None]:
    """Decode with the byte and pixel guards; returns (image, None) or (None, reason). Whole
    photos are decoded at reduced resolution where the format allows (the pipeline's size)."""
    from model.image_io import ImageRejected, decode_image
    from model.pipeline import DEFAULT_DECODE_MAX_SIDE

    try:
        image = decode_image(
            data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels,
            target_max_side=DEFAULT_DECODE_MAX_SIDE if whole_photo else None,
        )
    except ImageRejected as exc:
        return None, str(getattr(exc, "reason", exc))
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # a decoder bug on one hostile file must not fail its batch
        log.warning("decoder raised %s on a photo", type(exc).__name__, exc_info=True)
        return None, f"decode failed: {type(exc).__name__}: {exc}"[:300]
    return image, None


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

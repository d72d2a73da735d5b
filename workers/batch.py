"""One batch, start to finish: the unit of work shared by the Celery task and `meter-ocr run`.

load the batch -> count the attempt (past the cap its photos become `error` rows) -> fetch the
bytes concurrently -> decode each with size guards -> ONE `read_images` call -> ONE transaction.
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
from storage.refs import PhotoRef
from workers.resources import Resources

log = logging.getLogger(__name__)

# Decoding threads per process: enough to keep the cores busy while one batch decodes.
DEFAULT_DECODE_THREADS = max(2, min(4, len(os.sched_getaffinity(0))))


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
    """Read one queued batch and persist one row per photo. Safe to run twice (upserts)."""
    started = time.perf_counter()
    with resources.session_factory() as session, session.begin():
        work = repository.load_batch(session=session, job_id=job_id, batch_no=batch_no)
        if work is None or work.done:
            reason = "unknown batch" if work is None else "already done"
            return BatchReport(job_id, batch_no, skipped=reason)
        attempt = repository.record_attempt(session=session, job_id=job_id, batch_no=batch_no)
        job = repository.get_job(session=session, job_id=job_id)
    if attempt > resources.settings.max_attempts:
        outcomes = give_up(work.photos, attempt - 1, resources.models.version)
    else:
        outcomes = _read_or_save_partial(work, resources, getattr(job, "profile", None))
    _save(job_id, batch_no, outcomes, resources)
    counts = Counter(o.reading.status.value for o in outcomes)
    elapsed = time.perf_counter() - started
    log.info("job %s batch %s attempt %s: %s in %.2fs", job_id, batch_no, attempt, dict(counts), elapsed)
    return BatchReport(job_id, batch_no, attempt, dict(counts), elapsed_s=elapsed)


def _read_or_save_partial(work, resources: Resources, profile_spec: str | None) -> list:
    """Read the batch; on the soft time limit keep the rows already decided (the photos that
    failed to fetch or decode) and re-raise, so the retry reads only what is still pending."""
    finished: list = []
    try:
        return read_photos(
            work.photos, models=resources.models, s3_client=resources.s3_client, settings=resources.settings,
            profile=resolve_profile(profile_spec), finished=finished,
        )
    except SoftTimeLimitExceeded:
        if finished:
            _save(work.job_id, work.batch_no, finished, resources)
        log.warning("job %s batch %s: soft time limit; kept %d finished rows", work.job_id, work.batch_no, len(finished))
        raise


def _save(job_id: str, batch_no: int, outcomes: list, resources: Resources) -> None:
    with resources.session_factory() as session, session.begin():
        repository.save_batch(session=session, job_id=job_id, batch_no=batch_no, outcomes=outcomes)


def give_up(photos, tries: int, model_version: str) -> list:
    """Poison batch (it kept crashing or timing out): every photo becomes an `error` row."""
    reading = Reading.failed(Status.ERROR, f"gave up after {tries} attempts", model_version)
    return [PhotoOutcome(uri=p.uri, reading=reading, processing_ms=0) for p in photos]


def read_photos(photos, *, models, s3_client, settings, profile=None, crop=False, digits=None,
                finished: list | None = None) -> list:
    """Fetch, decode and read photos (PhotoRef-like, with `.uri`); one PhotoOutcome each, in
    order. `processing_ms` is the photo's own decode time plus its share of fetch and inference.
    `finished`, if given, receives each photo's outcome as soon as it is decided (for a caller
    interrupted by a time limit)."""
    started = time.perf_counter()
    payloads = fetch_many(
        [_as_ref(p) for p in photos],
        s3_client=s3_client,
        concurrency=settings.fetch_concurrency,
        max_bytes=settings.max_image_bytes,
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
        if finished is not None:
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
    with ThreadPoolExecutor(max_workers=DEFAULT_DECODE_THREADS, thread_name_prefix="decode") as pool:
        return list(pool.map(decode_one, payloads))


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

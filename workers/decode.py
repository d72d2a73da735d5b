"""Decoding a batch's bytes into pixels on a few threads, with the size guards, never letting
one hostile file or a stuck decoder take the batch down."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from celery.exceptions import SoftTimeLimitExceeded

from storage.fetch import FetchFailed

log = logging.getLogger(__name__)

# Decoding threads per process: enough to keep the cores busy while one batch decodes.
DEFAULT_DECODE_THREADS = max(2, min(4, len(os.sched_getaffinity(0))))


def decode_all(payloads: list, settings, *, whole_photo: bool,
               on_decoded=None) -> list[tuple[object | None, str | None, float]]:
    """(image, failure reason, decode ms) per payload, in order. Decoding runs on a few threads:
    OpenCV and Pillow release the GIL while they decode. `on_decoded(i, image, failure, ms)` is
    called in this thread as each payload is done, in completion order."""
    results: list = [None] * len(payloads)

    def finish(i: int, result: tuple) -> None:
        results[i] = result
        if on_decoded is not None:
            on_decoded(i, *result)

    def decode_one(payload) -> tuple[object | None, str | None, float]:
        t0 = time.perf_counter()
        if isinstance(payload, FetchFailed):
            return None, payload.reason, 0.0
        image, failure = decode_photo(payload, settings, whole_photo=whole_photo)
        return image, failure, (time.perf_counter() - t0) * 1000

    if len(payloads) < 2:
        for i, payload in enumerate(payloads):
            finish(i, decode_one(payload))
        return results
    pool = ThreadPoolExecutor(max_workers=DEFAULT_DECODE_THREADS, thread_name_prefix="decode")
    try:
        futures = {pool.submit(decode_one, payload): i for i, payload in enumerate(payloads)}
        for future in as_completed(futures):
            finish(futures[future], future.result())
        return results
    finally:
        # Never wait here for a decoder stuck in C: on the soft time limit that wait would
        # swallow the limit and lose the finished rows to the hard kill.
        pool.shutdown(wait=False, cancel_futures=True)


def decode_photo(data: bytes, settings, *, whole_photo: bool = True) -> tuple[object | None, str | None]:
    """Decode with the byte and pixel guards; returns (image, None) or (None, reason). Whole
    photos are decoded at reduced resolution where the format allows (the pipeline's size)."""
    from model.image_io import ImageRejected, decode_image
    from model.pipeline import DEFAULT_DECODE_GREY, DEFAULT_DECODE_MAX_SIDE

    try:
        image = decode_image(
            data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels,
            target_max_side=DEFAULT_DECODE_MAX_SIDE if whole_photo else None, grey=DEFAULT_DECODE_GREY,
        )
    except ImageRejected as exc:
        return None, str(getattr(exc, "reason", exc))
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # a decoder bug on one hostile file must not fail its batch
        log.warning("decoder raised %s on a photo", type(exc).__name__, exc_info=True)
        return None, f"decode failed: {type(exc).__name__}: {exc}"[:300]
    return image, None

"""The crop path: counter windows -> Readings (normalise -> one batched reader call -> CTC
decode -> confidence -> threshold). Used by model.pipeline for photos' windows, and with a
framing check (`read_crops_checked`) for crops given as crops: `read --crop` and `eval --crop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from model.confidence import digit_confidences, sequence_confidence, status_for
from model.decode import decode_constrained, decode_greedy, labels_to_text
from model.normalise import to_reader_input
from model.reading import DigitConfidence, Reading, Status
from model.runtime import Models, Reader

MIN_CROP_SIDE = 4  # pixels; smaller crops cannot hold a legible digit
# Below this height (pixels, as cut from the photo) a reading is never accepted. The threshold is
# calibrated on full-size counters; shrunk, the wrong share among accepted grows (reader-1.6,
# 2,000 real test counters: 12 px 1.8%, 14 px 1.1%, 16 px 1.3%, 18 px 0%, 20 px 0.2%, 24 px 0.2%).
MIN_TRUSTED_HEIGHT = 18
# A crop given as a crop (`read --crop`, `eval --crop`) is accepted only if it reads the same with
# this much more of its edge colour around it (shares of its height above and below, of its width
# at each end): a reading that changes with the framing needs a person. Crops from other cameras
# or cut by hand are framed every way. On 2,000 real test counters (reader-1.9) it took the wrong
# share among accepted from 0.67% to 0.41% turned 4 degrees and from 0.60% to 0.34% loosely cut,
# for half a point of accepted exactly cut ones (55.5% -> 55.0%). Whole photos have their own
# check (several window lengths, model.pipeline).
FRAMING_CHECK = (0.1, 0.1, 0.04, 0.04)


def read_crops(crops: Sequence[np.ndarray], models: Models, *, digits: int | None = None) -> list[Reading]:
    """N counter crops, each (H,W) or (H,W,3) uint8 BGR -> N Readings, in order.

    `digits` is the expected digit count (from a meter profile or `--digits`); when given, the
    decoder returns exactly that many digits or the crop goes to review.
    """
    reader = models.reader
    readings: list[Reading | None] = [None] * len(crops)
    usable: list[int] = []
    for i, crop in enumerate(crops):
        problem = _crop_problem(crop)
        if problem:
            readings[i] = Reading.failed(Status.UNREADABLE, problem, models.version)
        else:
            usable.append(i)
    if usable:
        batch = to_reader_input([crops[i] for i in usable], *reader.input_size)
        probs = reader.predict(batch)
        for i, crop_probs in zip(usable, probs):
            readings[i] = _small_to_review(reading_from_probs(crop_probs, reader, models.version, digits=digits),
                                           np.asarray(crops[i]).shape[0])
    return readings  # type: ignore[return-value]


def read_crops_checked(crops: Sequence[np.ndarray], models: Models, *,
                       digits: int | None = None) -> list[Reading]:
    """read_crops, then each accepted reading sent to review if the crop read again with more
    background around it (FRAMING_CHECK) gives other digits. One reader call for both."""
    reframed = [_with_more_background(crop) if _crop_problem(crop) is None else crop for crop in crops]
    readings = read_crops([*crops, *reframed], models, digits=digits)
    as_cut, again = readings[: len(crops)], readings[len(crops) :]
    return [replace(r, status=Status.REVIEW, reason="reading changes with the framing")
            if r.status is Status.ACCEPTED and other.reading != r.reading else r
            for r, other in zip(as_cut, again)]


def _with_more_background(crop: np.ndarray) -> np.ndarray:
    h, w = np.asarray(crop).shape[:2]
    top, bottom, left, right = (round(share * side) for share, side in zip(FRAMING_CHECK, (h, h, w, w)))
    return cv2.copyMakeBorder(np.asarray(crop), top, bottom, left, right, cv2.BORDER_REPLICATE)


def _small_to_review(reading: Reading, height: int) -> Reading:
    if reading.status is Status.ACCEPTED and height < MIN_TRUSTED_HEIGHT:
        return replace(reading, status=Status.REVIEW,
                       reason=f"counter only {height} px high: too small to accept without a person")
    return reading


def _crop_problem(crop: np.ndarray) -> str | None:
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.ndim not in (2, 3) or (crop.ndim == 3 and crop.shape[2] not in (1, 3, 4)):
        return f"not an image crop: dtype {crop.dtype}, shape {crop.shape}"
    if min(crop.shape[:2]) < MIN_CROP_SIDE:
        return f"crop too small: {crop.shape[1]}x{crop.shape[0]} px"
    return None


def reading_from_probs(
    probs: np.ndarray, reader: Reader, model_version: str, *, digits: int | None = None
) -> Reading:
    """One crop's (T,C) float32 posteriors -> Reading (decode, confidences, status)."""
    blank = reader.blank_index
    if digits is None:
        decoded = decode_greedy(probs, blank)
    else:
        decoded = decode_constrained(probs, blank, digits)
        if decoded is None:
            return Reading.failed(Status.REVIEW, f"no {digits}-digit reading fits", model_version)
    if not decoded.labels:
        return Reading.failed(Status.UNREADABLE, "no digits read", model_version)
    text = labels_to_text(decoded.labels, reader.alphabet, blank)
    per_digit = digit_confidences(probs, decoded)
    confidence = sequence_confidence(probs, decoded, blank)
    status = status_for(confidence, reader.threshold)
    return Reading(
        status=status,
        reading=text,
        confidence=round(confidence, 6),
        reason=None if status is Status.ACCEPTED else "confidence below threshold",
        digits=tuple(DigitConfidence(d, round(float(c), 6)) for d, c in zip(text, per_digit)),
        model_version=model_version,
    )

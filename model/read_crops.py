"""The crop path: counter windows -> Readings (normalise -> one batched reader call -> CTC
decode -> confidence -> threshold). Used by model.pipeline for photos' windows, and with a
reading in several framings (`read_crops_checked`) for crops given as crops: `read --crop` and
`eval --crop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from model.confidence import (
    agreed_confidences,
    digit_confidences,
    label_posteriors,
    status_for,
)
from model.decode import (
    Decoded,
    decode_constrained,
    decode_greedy,
    labels_to_text,
    text_to_labels,
)
from model.normalise import reframe, to_reader_input
from model.reading import DigitConfidence, Reading, Status
from model.runtime import Models, Reader

MIN_CROP_SIDE = 4  # pixels; smaller crops cannot hold a legible digit
# Below this height (pixels, as cut from the photo) a reading is never accepted. The threshold is
# calibrated on full-size counters; shrunk, the wrong share among accepted grows (reader-1.6,
# 2,000 real test counters: 12 px 1.8%, 14 px 1.1%, 16 px 1.3%, 18 px 0%, 20 px 0.2%, 24 px 0.2%).
MIN_TRUSTED_HEIGHT = 18
# A crop given as a crop (`read --crop`, `eval --crop`) is read in three framings, in one reader
# call: as cut, and in each of these (shares of its height above and below, of its width at each
# end; more of its edge colour where positive, cut off where negative). Crops from other cameras
# or cut by hand are framed every way, so no one framing decides: of the digits any framing reads,
# the reading is those most probable over all three (the geometric mean of their probability in
# each, model.confidence), that agreed probability is its confidence, and it is accepted only if
# that clears the threshold and every framing reads the same digits. The framings were chosen on
# 3,000 validation counters; on 2,000 real test counters with reader-2.0, against the crop as cut
# checked with 10%/4% more background (the rule until then): exact 93.8% -> 95.05%, turned 4
# degrees 88.5% -> 89.8%, loosely cut 87.0% -> 90.15%, framed as located 90.4% -> 91.7%; as many
# accepted (57.6% -> 57.75%), as few of them wrong (1 -> 1; loosely cut 4 -> 2). Taking the
# digits of the framing read most surely instead (the rule before this one, with reader-2.2)
# reads as many of 10,000 real counters (test and validation, as cut and as located) right and
# accepts the same ones, but the PHCN LCD whose glare-faded last 9 two framings read as 8 wrong.
REFRAMINGS = ((0.05, 0.05, 0.02, 0.02), (-0.04, -0.04, 0.0, 0.0))


def read_crops(crops: Sequence[np.ndarray], models: Models, *, digits: int | None = None) -> list[Reading]:
    """N counter crops, each (H,W) or (H,W,3) uint8 BGR -> N Readings, in order.

    `digits` is the expected digit count (from a meter profile or `--digits`); when given, the
    decoder returns exactly that many digits or the crop goes to review.
    """
    return _read_with_probs(crops, models, digits=digits)[0]


def _read_with_probs(crops: Sequence[np.ndarray], models: Models, *,
                     digits: int | None = None) -> tuple[list[Reading], list[np.ndarray | None]]:
    """read_crops, and each crop's (T,C) posteriors (None where the crop could not be read)."""
    reader = models.reader
    readings: list[Reading | None] = [None] * len(crops)
    all_probs: list[np.ndarray | None] = [None] * len(crops)
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
        decoded = [_decode(crop_probs, reader.blank_index, digits) for crop_probs in probs]
        legible = [k for k, d in enumerate(decoded) if isinstance(d, Decoded)]
        posteriors = dict(zip(legible, label_posteriors(probs[legible], [decoded[k].labels for k in legible],
                                                        reader.blank_index))) if legible else {}
        for k, (i, crop_probs, outcome) in enumerate(zip(usable, probs, decoded)):
            all_probs[i] = crop_probs
            if not isinstance(outcome, Decoded):
                readings[i] = Reading.failed(outcome[0], outcome[1], models.version)
                continue
            reading = _reading(crop_probs, outcome, float(posteriors[k]), reader, models.version)
            readings[i] = _small_to_review(reading, np.asarray(crops[i]).shape[0])
    return readings, all_probs  # type: ignore[return-value]


def read_crops_checked(crops: Sequence[np.ndarray], models: Models, *,
                       digits: int | None = None) -> list[Reading]:
    """read_crops, each crop also read in the REFRAMINGS (one reader call for all): the reading
    is the digits most probable over every framing (model.confidence.agreed_confidences), and it
    is accepted only if that probability clears the threshold and every framing reads them."""
    framed = [reframe(crop, shares) if _crop_problem(crop) is None else crop
              for shares in REFRAMINGS for crop in crops]
    readings, probs = _read_with_probs([*crops, *framed], models, digits=digits)
    n = len(crops)
    reads = [readings[i::n] for i in range(n)]
    reader = models.reader
    chosen = _most_probable(reads, [probs[i::n] for i in range(n)], reader.alphabet, reader.blank_index)
    return [_settle(crop_reads, pick, reader.threshold, np.asarray(crop).shape[0])
            for crop_reads, pick, crop in zip(reads, chosen, crops)]


def _most_probable(reads: Sequence[Sequence[Reading]], probs: Sequence[Sequence[np.ndarray | None]],
                   alphabet: str, blank: int) -> list[tuple[Reading, float] | None]:
    """Each crop's reads and its framings' posteriors -> (the read of the digits most probable over
    the framings, that agreed probability), in one forward pass for all crops; None where no
    framing read digits. Of two reads of those digits, the surer one gives the per-digit view."""
    jobs, owners = [], []
    for k, (crop_reads, views) in enumerate(zip(reads, probs)):
        views = [p for p in views if p is not None]
        for text in dict.fromkeys(r.reading for r in crop_reads if r.reading):  # as cut first: ties go to it
            jobs.append((views, text_to_labels(text, alphabet, blank)))
            owners.append((k, text))
    best: dict[int, tuple[float, str]] = {}
    for (k, text), confidence in zip(owners, agreed_confidences(jobs, blank) if jobs else []):
        if k not in best or confidence > best[k][0]:
            best[k] = (confidence, text)
    out: list[tuple[Reading, float] | None] = []
    for k, crop_reads in enumerate(reads):
        if k not in best:
            out.append(None)
            continue
        confidence, text = best[k]
        read = max((r for r in crop_reads if r.reading == text), key=lambda r: r.confidence or 0.0)
        out.append((read, round(confidence, 6)))
    return out


def _settle(reads: list[Reading], chosen: tuple[Reading, float] | None, threshold: float, height: int) -> Reading:
    """One crop's reads (as cut first, then each framing) and its chosen read with that reading's
    agreed confidence (_most_probable) -> its Reading."""
    if chosen is None:
        return reads[0]
    read, agreed = chosen
    settled = replace(read, confidence=agreed)
    if all(r.reading == read.reading for r in reads):
        if agreed >= threshold:
            return _small_to_review(replace(settled, status=Status.ACCEPTED, reason=None), height)
        return replace(settled, status=Status.REVIEW, reason="confidence below threshold")
    # a reading that changes with the framing needs a person, however sure one framing is
    if read.status is Status.ACCEPTED or agreed >= threshold:
        return replace(settled, status=Status.REVIEW, reason="reading changes with the framing")
    return replace(settled, status=Status.REVIEW)


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


def _decode(probs: np.ndarray, blank: int, digits: int | None) -> Decoded | tuple[Status, str]:
    """One crop's (T,C) posteriors -> its decoded path, or (status, reason) when none fits."""
    if digits is None:
        decoded = decode_greedy(probs, blank)
    else:
        decoded = decode_constrained(probs, blank, digits)
        if decoded is None:
            return Status.REVIEW, f"no {digits}-digit reading fits"
    if not decoded.labels:
        return Status.UNREADABLE, "no digits read"
    return decoded


def _reading(probs: np.ndarray, decoded: Decoded, confidence: float, reader: Reader, model_version: str) -> Reading:
    """One crop's posteriors, path and sequence confidence -> Reading (digits, status)."""
    text = labels_to_text(decoded.labels, reader.alphabet, reader.blank_index)
    status = status_for(confidence, reader.threshold)
    return Reading(
        status=status,
        reading=text,
        confidence=round(confidence, 6),
        reason=None if status is Status.ACCEPTED else "confidence below threshold",
        digits=tuple(DigitConfidence(d, round(float(c), 6)) for d, c in zip(text, digit_confidences(probs, decoded))),
        model_version=model_version,
    )

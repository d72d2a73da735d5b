"""Per-digit and sequence confidence for a decoded CTC path, and the accept/review decision.

Per-digit confidence is the highest posterior the digit reaches within its run on the path.
The sequence confidence multiplies those and also charges the gaps: a frame between two digits
(or at either end) where some *other* digit is probable is a likely missed or inserted digit,
which the mean of per-frame maxima would hide. Errors therefore rank low, which is what the
risk-coverage calibration needs.
"""

from __future__ import annotations

import numpy as np

from model.decode import Decoded
from model.reading import Status


def digit_confidences(probs: np.ndarray, decoded: Decoded) -> np.ndarray:
    """(T,C) posteriors + path -> (L,) float64, each digit's peak posterior in its run."""
    probs = np.asarray(probs, dtype=np.float64)
    return np.array([probs[a:b, c].max() for c, (a, b) in zip(decoded.labels, decoded.spans)])


def gap_confidence(probs: np.ndarray, decoded: Decoded, blank_index: int) -> float:
    """(T,C) posteriors + path -> float in [0,1]: 1 - the largest posterior of a digit other than
    its neighbours on any frame outside the digit runs."""
    probs = np.asarray(probs, dtype=np.float64)
    worst = 0.0
    edges = [(0, None)] + [(b, c) for c, (_, b) in zip(decoded.labels, decoded.spans)]
    starts = [(a, c) for c, (a, _) in zip(decoded.labels, decoded.spans)] + [(len(probs), None)]
    for (gap_start, left), (gap_end, right) in zip(edges, starts):
        if gap_end <= gap_start:
            continue
        gap = probs[gap_start:gap_end].copy()
        gap[:, [c for c in (blank_index, left, right) if c is not None]] = 0.0
        worst = max(worst, float(gap.max()))
    return 1.0 - worst


def sequence_confidence(probs: np.ndarray, decoded: Decoded, blank_index: int) -> float:
    """(T,C) posteriors + path -> float in [0,1]. 0 for an empty reading."""
    if not decoded.labels:
        return 0.0
    per_digit = digit_confidences(probs, decoded)
    return float(np.prod(per_digit) * gap_confidence(probs, decoded, blank_index))


def status_for(confidence: float | None, threshold: float) -> Status:
    """ACCEPTED when the calibrated threshold is met, otherwise REVIEW."""
    if confidence is not None and confidence >= threshold:
        return Status.ACCEPTED
    return Status.REVIEW

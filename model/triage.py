"""Triage: photos nobody can read, told apart before any model runs.

Each check works on one small downscaled grey copy (a few thousand pixels), so triage costs well
under a millisecond even for a 12-megapixel photo once it is decoded. The thresholds are
deliberately conservative: a photo that triage lets through can still end `unreadable` when no
counter is found, but a readable photo that triage rejects is a wasted site visit.
"""

from __future__ import annotations

import cv2
import numpy as np

from model.image_io import shrink
from model.normalise import to_gray

DEFAULT_TRIAGE_SIDE = 256  # long side of the grey copy all checks look at
DEFAULT_DARK_MEAN = 18.0  # mean grey level below which the photo is black
DEFAULT_DARK_P99 = 45.0  # ... unless a bright region (a lit display) exists
DEFAULT_FLAT_STD = 4.0  # grey-level spread below which the photo is a blank surface
DEFAULT_FLAT_STRUCTURE = 2.5  # mean |Laplacian| at 64 px wide; blank walls 0.4-1.5, meters 8+
DEFAULT_OVEREXPOSED_FRACTION = 0.85  # share of clipped (>= 250) pixels
DEFAULT_BLUR_EDGE = 0.2  # sharpest-edge strength; sharp photos score 1-4, sigma 6 px blur ~0.2


def triage(image: np.ndarray) -> str | None:
    """Why this photo cannot be read, or None if it is worth locating a counter in.

    image: (H, W, 3) uint8 BGR (or (H, W) uint8 grey).
    Returns a short reason: "too dark", "blank image", "overexposed", "too blurred".
    """
    grey = _small_grey(image)
    histogram = np.bincount(grey.ravel(), minlength=256)
    mean = float(grey.mean())
    if mean < DEFAULT_DARK_MEAN and _histogram_percentile(histogram, 99) < DEFAULT_DARK_P99:
        return "too dark"
    if histogram[250:].sum() > DEFAULT_OVEREXPOSED_FRACTION * grey.size:
        return "overexposed"
    if float(grey.std()) < DEFAULT_FLAT_STD or coarse_structure(grey) < DEFAULT_FLAT_STRUCTURE:
        return "blank image"
    if edge_sharpness(grey, histogram) < DEFAULT_BLUR_EDGE:
        return "too blurred"
    return None


def coarse_structure(grey: np.ndarray) -> float:
    """How much there is to see at thumbnail scale: mean |Laplacian| of a 64 px wide copy.

    grey: (h, w) uint8. Averaging down to 64 px removes sensor noise, and a smooth lighting
    gradient has no Laplacian, so a blank wall scores near 1 however it is lit.
    """
    height, width = grey.shape
    size = (64, max(1, round(64 * height / width)))
    thumb = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    return float(np.abs(cv2.Laplacian(thumb, cv2.CV_32F)).mean())


def edge_sharpness(grey: np.ndarray, histogram: np.ndarray | None = None) -> float:
    """How sharp the photo's strongest edges are: a high percentile of |Laplacian| / contrast.

    grey: (h, w) uint8 at about DEFAULT_TRIAGE_SIDE. A percentile of the strongest responses,
    not the mean, so a sharp counter on a plain wall still counts; dividing by the grey-level
    range keeps a dim but sharp photo from looking blurred.
    """
    if histogram is None:
        histogram = np.bincount(grey.ravel(), minlength=256)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_16S, ksize=3)).ravel()
    # The 99.5th percentile read off a histogram: the same value np.partition would find, at a
    # fifth of the cost (|Laplacian| of uint8 with ksize 3 is at most 8 * 255).
    counts = np.bincount(laplacian, minlength=8 * 255 + 1)
    strong = float(np.searchsorted(np.cumsum(counts), int(laplacian.size * 0.995), side="right"))
    spread = _histogram_percentile(histogram, 99) - _histogram_percentile(histogram, 1)
    return strong / max(spread, 8.0)


def _histogram_percentile(histogram: np.ndarray, percent: float) -> float:
    """The grey level below which `percent` % of the pixels lie (a 256-bin histogram)."""
    cumulative = np.cumsum(histogram)
    return float(np.searchsorted(cumulative, cumulative[-1] * percent / 100.0))


def _small_grey(image: np.ndarray) -> np.ndarray:
    # Striding first keeps a 12-megapixel colour photo from costing a full-size colour conversion.
    step = max(1, max(image.shape[:2]) // (2 * DEFAULT_TRIAGE_SIDE)) if image.ndim == 3 else 1
    grey = to_gray(image[::step, ::step])
    height, width = grey.shape
    scale = DEFAULT_TRIAGE_SIDE / max(height, width)
    if scale < 1.0:
        grey = shrink(grey, (max(1, round(width * scale)), max(1, round(height * scale))))
    return grey

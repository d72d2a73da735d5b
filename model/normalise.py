"""Counter crop -> reader input. The one preprocessing path shared by training and serving.

A crop keeps its aspect ratio: it is scaled to the reader's height and padded on the right with
its own border colour up to the reader's width (squeezed only when wider), so a 4-digit and a
10-digit counter show digits of similar shape. Contrast is stretched per crop (robust
percentiles), which evens out dim LCDs, glare and low-contrast drums.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

DEFAULT_HEIGHT = 32
DEFAULT_WIDTH = 128
_LOW_PERCENTILE, _HIGH_PERCENTILE = 1.0, 99.0
_MIN_SPREAD = 8.0  # grey levels; flatter crops are left unstretched (avoid amplifying noise)


def to_gray(crop: np.ndarray) -> np.ndarray:
    """(H,W) or (H,W,1|3|4) uint8 (BGR order for colour) -> (H,W) uint8."""
    if crop.ndim == 2:
        return crop
    if crop.ndim == 3 and crop.shape[2] == 1:
        return crop[:, :, 0]
    if crop.ndim == 3 and crop.shape[2] == 3:
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if crop.ndim == 3 and crop.shape[2] == 4:
        return cv2.cvtColor(crop, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"expected an (H,W) or (H,W,C) image, got shape {crop.shape}")


def pad_or_cut(image: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Add that many pixels of the edge colour on each side, or cut them off where negative."""
    image = cv2.copyMakeBorder(image, *(max(0, p) for p in (top, bottom, left, right)), cv2.BORDER_REPLICATE)
    ct, cb, cl, cr = (max(0, -p) for p in (top, bottom, left, right))
    return image[ct : image.shape[0] - cb, cl : image.shape[1] - cr]


def reframe(crop: np.ndarray, shares: tuple[float, float, float, float]) -> np.ndarray:
    """The crop with (above, below, each end) shares of its height, height, width, width of its
    edge colour added, or cut off where negative."""
    crop = np.asarray(crop)
    h, w = crop.shape[:2]
    top, bottom, left, right = (round(share * side) for share, side in zip(shares, (h, h, w, w)))
    return pad_or_cut(crop, top, bottom, left, right)


def fit_to_canvas(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h,w) uint8 -> (height,width) uint8: scale to `height`, pad right with the border colour."""
    h, w = gray.shape
    if h < 2 or w < 2:
        raise ValueError(f"crop too small to read: {gray.shape}")
    new_w = max(1, min(width, round(w * height / h)))
    interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    scaled = cv2.resize(gray, (new_w, height), interpolation=interp)
    if new_w == width:
        return scaled
    border = np.concatenate([scaled[:, -2:].ravel(), scaled[[0, -1], :].ravel()])
    canvas = np.full((height, width), np.median(border), dtype=np.uint8)
    canvas[:, :new_w] = scaled
    return canvas


def stretch_contrast(gray: np.ndarray) -> np.ndarray:
    """(H,W) uint8 -> (H,W) float32 in [0,1], robust min/max stretch."""
    low, high = uint8_percentiles(gray, (_LOW_PERCENTILE, _HIGH_PERCENTILE))
    if high - low < _MIN_SPREAD:
        return gray.astype(np.float32) / 255.0
    out = (gray.astype(np.float32) - low) / (high - low)
    return np.clip(out, 0.0, 1.0)


def uint8_percentiles(gray: np.ndarray, percents: Sequence[float]) -> list[float]:
    """np.percentile(gray, percents) (linear interpolation) read off a 256-bin histogram: the
    same values at a fraction of the cost, which counts at up to four crops per photo."""
    cumulative = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    values = []
    for percent in percents:
        position = percent / 100.0 * (cumulative[-1] - 1)
        below = int(np.floor(position))
        lower = float(np.searchsorted(cumulative, below, side="right"))
        upper = float(np.searchsorted(cumulative, min(below + 1, cumulative[-1] - 1), side="right"))
        values.append(lower + (upper - lower) * (position - below))
    return values


def to_reader_input(
    crops: Sequence[np.ndarray], height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH
) -> np.ndarray:
    """List of N crops, each (H,W) or (H,W,3) uint8 BGR -> (N,height,width,1) float32 in [0,1]."""
    batch = np.zeros((len(crops), height, width, 1), dtype=np.float32)
    for i, crop in enumerate(crops):
        crop = np.asarray(crop)
        if crop.dtype != np.uint8:
            raise ValueError(f"crop {i}: expected uint8, got {crop.dtype}")
        batch[i, :, :, 0] = stretch_contrast(fit_to_canvas(to_gray(crop), height, width))
    return batch

"""Find the counter window in whole photos with the learned locator.

The locator (model/locator_net.py) sees the photo letterboxed to a small grey square and paints
two heatmaps at a lower resolution: channel 0 covers the counter window, channel 1 only its
first (left) half in reading order. The box is read from channel 0's largest blob by image
moments (a uniform rectangle of length L has variance L^2/12 along its axis), which gives a
sub-cell oriented box; channel 1 says which end the reading starts from, so a photo rotated by
up to +-180 degrees still comes out upright. No blob, or a weak one -> no counter (None).

Pure numpy/cv2: the SavedModel is called through `Models.locator.predict` from model/runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_INPUT_SIZE = 192
DEFAULT_MASK_THRESHOLD = 0.5  # heatmap level that belongs to the window
DEFAULT_MIN_SCORE = 0.6  # mean heatmap inside the blob below which nothing was found
DEFAULT_MIN_AREA_CELLS = 3  # fewer output cells than this is noise, not a counter


@dataclass(frozen=True)
class CounterBox:
    """An oriented counter window in full-image pixels.

    quad: (4, 2) float32 corners in reading order: top-left, top-right, bottom-right,
        bottom-left of the upright counter (the first digit is at the left edge).
    score: 0..1, how sure the locator is that this is a counter window.
    orientation_confidence: 0..1, how sure it is which end the reading starts from.
    """

    quad: np.ndarray
    score: float
    orientation_confidence: float


@dataclass(frozen=True)
class Letterbox:
    """How a photo was fitted into the locator's square: input = photo * scale + offset."""

    scale: float
    offset_x: float
    offset_y: float

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) float points in locator-input pixels -> photo pixels."""
        offset = np.array([self.offset_x, self.offset_y], dtype=np.float32)
        return ((points - offset) / self.scale).astype(np.float32)


def letterbox_grey(image: np.ndarray, size: int = DEFAULT_INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """Fit a photo into a size x size grey square, aspect kept, centred, padded with mid-grey.

    image: (H, W, 3) uint8 BGR. Returns ((size, size) uint8, Letterbox).
    """
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    step = max(1, int(1 / scale) // 2)  # stride big photos first: INTER_AREA on 12 MP is slow
    small = image[::step, ::step]
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    grey = cv2.resize(grey, (new_w, new_h), interpolation=cv2.INTER_AREA)
    square = np.full((size, size), 128, dtype=np.uint8)
    off_x, off_y = (size - new_w) // 2, (size - new_h) // 2
    square[off_y:off_y + new_h, off_x:off_x + new_w] = grey
    return square, Letterbox(new_w / width, float(off_x), float(off_y))


def locate_counters(images: list[np.ndarray], locator) -> list[CounterBox | None]:
    """One batched locator call for a list of photos.

    images: list of (H, W, 3) uint8 BGR. locator: `Models.locator` (`.predict`, `.metadata`).
    Returns one CounterBox (full-image pixels) or None (no counter) per photo.
    """
    if not images:
        return []
    meta = locator.metadata
    size = int(meta.get("input_size", DEFAULT_INPUT_SIZE))
    fitted = [letterbox_grey(image, size) for image in images]
    batch = np.stack([square for square, _ in fitted]).astype(np.float32)[..., None] / 255.0
    heatmaps = np.asarray(locator.predict(batch), dtype=np.float32)
    boxes = []
    for heatmap, (_, letterbox) in zip(heatmaps, fitted):
        found = box_from_heatmap(heatmap, stride=size / heatmap.shape[0],
                                 min_score=float(meta.get("min_score", DEFAULT_MIN_SCORE)))
        if found is None:
            boxes.append(None)
            continue
        quad, score, orientation = found
        boxes.append(CounterBox(letterbox.to_image(quad), score, orientation))
    return boxes


def box_from_heatmap(heatmap: np.ndarray, *, stride: float,
                     min_score: float = DEFAULT_MIN_SCORE) -> tuple[np.ndarray, float, float] | None:
    """The counter's oriented box from the locator's two heatmaps.

    heatmap: (h, w, 2) float32 in [0, 1]; stride: locator-input pixels per heatmap cell.
    Returns (quad (4, 2) float32 in locator-input pixels, reading order; score; orientation
    confidence), or None when no blob is strong enough.
    """
    window, first_half = heatmap[..., 0], heatmap[..., 1]
    blob = _largest_blob(window > DEFAULT_MASK_THRESHOLD)
    if blob is None:
        return None
    weights = np.where(blob, window, 0.0)
    score = float(weights.sum() / blob.sum())
    if score < min_score:
        return None
    centre, axis, length, thickness = _moments_box(weights)
    forward, orientation = _reading_direction(first_half * blob, centre, axis, length)
    normal = np.array([-forward[1], forward[0]])  # "down" in the upright counter
    half_l, half_t = forward * length / 2, normal * thickness / 2
    corners = np.array([centre - half_l - half_t, centre + half_l - half_t,
                        centre + half_l + half_t, centre - half_l + half_t])
    return ((corners + 0.5) * stride).astype(np.float32), score, orientation


def _largest_blob(mask: np.ndarray) -> np.ndarray | None:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < DEFAULT_MIN_AREA_CELLS:
        return None
    return labels == best


def _moments_box(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Centre (x, y), unit long axis, length and thickness (cells) of a weighted blob."""
    ys, xs = np.nonzero(weights)
    w = weights[ys, xs].astype(np.float64)
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    centre = (points * w[:, None]).sum(0) / w.sum()
    offsets = points - centre
    covariance = (offsets * w[:, None]).T @ offsets / w.sum()
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    # +1/12 per axis: the cells' own width, which the point samples do not carry.
    length = float(np.sqrt(12 * max(eigenvalues[1], 0.0) + 1.0))
    thickness = float(np.sqrt(12 * max(eigenvalues[0], 0.0) + 1.0))
    return centre, eigenvectors[:, 1], length, thickness


def _reading_direction(first_half: np.ndarray, centre: np.ndarray, axis: np.ndarray,
                       length: float) -> tuple[np.ndarray, float]:
    """Unit vector from the first digit towards the last, and how sure that is (0..1)."""
    total = float(first_half.sum())
    if total <= 1e-6:
        return (axis if axis[0] >= 0 else -axis), 0.0  # no evidence: assume roughly upright
    ys, xs = np.nonzero(first_half)
    w = first_half[ys, xs]
    first_centre = np.array([(xs * w).sum(), (ys * w).sum()]) / total
    along = float((first_centre - centre) @ axis)  # about -length/4 when axis points forwards
    confidence = float(min(1.0, abs(along) / max(length / 4, 1e-6)))
    return (axis if along < 0 else -axis), confidence

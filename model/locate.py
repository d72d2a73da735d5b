"""Find the counter window in whole photos with the learned locator.

The locator (model/locator_net.py) sees the photo letterboxed to a small grey square and
predicts, on a stride-4 grid, a window score and, in every cell inside the window, a vote for
the whole oriented box (model/locator_targets.py says exactly what the maps hold). The votes of
the strongest blob are averaged into one box, so a serial number elsewhere cannot drag it; a
weak blob or none means no counter (None), which the pipeline reports as `unreadable`.

Pure numpy/cv2: the SavedModel is called through `Models.locator` from model/runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.locator_targets import decode_maps, quad_geometry

DEFAULT_INPUT_SIZE = 192
MAPS_OUTPUT = "maps"  # the locator signature's output: (N, S/4, S/4, MAP_CHANNELS) float32
DEFAULT_SCORE_THRESHOLD = 0.5  # cell score that belongs to the window
DEFAULT_MIN_SCORE = 0.55  # mean score of the blob below which nothing was found
REFINE_PASSES = 1  # a third look measured no finer than the second
REFINE_FRACTION = 0.35  # window length / zoomed view side in the second pass (training: 0.15-0.4)


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


def zoom_square(image: np.ndarray, centre: np.ndarray, side: float,
                size: int = DEFAULT_INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """A size x size grey view of the square of `side` px around `centre`, padded mid-grey
    where it leaves the photo. image: (H, W, 3) uint8 BGR. Returns ((size, size) uint8, Letterbox)."""
    side = max(int(round(side)), 8)
    x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
    height, width = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    canvas = np.full((side, side), 128, dtype=np.uint8)
    if cx1 > cx0 and cy1 > cy0:
        region = image[cy0:cy1, cx0:cx1]
        canvas[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = (
            cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    square = cv2.resize(canvas, (size, size), interpolation=interpolation)
    scale = size / side
    return square, Letterbox(scale, -x0 * scale, -y0 * scale)


def locate_counters(images: list[np.ndarray], locator) -> list[CounterBox | None]:
    """Find the counter window of each photo: two batched locator calls for the whole list.

    The first pass sees each whole photo; the second looks again at a square around what it
    found, zoomed so the window is as large as the biggest ones in training (REFINE_FRACTION of
    the view): the box gets several times finer, and a find the closer look does not confirm
    is dropped (a serial number or a label seen from afar).
    images: list of (H, W, 3) uint8 BGR. locator: `Models.locator` (a runtime.SavedModelRunner:
    `.predict_outputs`, `.metadata`).
    Returns one CounterBox (full-image pixels) or None (no counter) per photo.
    """
    size = int(locator.metadata.get("input_size", DEFAULT_INPUT_SIZE))
    coarse = _run_locator([letterbox_grey(image, size) for image in images], locator)
    boxes = coarse
    for _ in range(REFINE_PASSES):
        boxes = _refine(images, boxes, locator, size)
    return boxes


def _refine(images, boxes, locator, size: int) -> list[CounterBox | None]:
    found = [i for i, box in enumerate(boxes) if box is not None]
    views = []
    for i in found:
        centre, length, height, _ = quad_geometry(boxes[i].quad)
        views.append(zoom_square(images[i], centre, max(length / REFINE_FRACTION, 4 * height), size))
    refined: list[CounterBox | None] = [None] * len(images)
    for i, box in zip(found, _run_locator(views, locator)):
        refined[i] = box
    return refined


def _run_locator(views: list[tuple[np.ndarray, Letterbox]], locator) -> list[CounterBox | None]:
    """One batched locator call on prepared grey squares; boxes mapped back to photo pixels."""
    if not views:
        return []
    meta = locator.metadata
    batch = np.stack([square for square, _ in views]).astype(np.float32)[..., None] / 255.0
    all_maps = np.asarray(locator.predict_outputs(batch)[MAPS_OUTPUT], dtype=np.float32)
    threshold = float(meta.get("score_threshold", DEFAULT_SCORE_THRESHOLD))
    min_score = float(meta.get("min_score", DEFAULT_MIN_SCORE))
    boxes: list[CounterBox | None] = []
    for maps, (_, letterbox) in zip(all_maps, views):
        found = decode_maps(maps, score_threshold=threshold)
        if found is None or found[1] < min_score:
            boxes.append(None)
            continue
        quad, score, orientation = found
        boxes.append(CounterBox(letterbox.to_image(quad), score, orientation))
    return boxes

"""Find the counter window in whole photos with the learned locator.

The locator (model/locator_net.py) sees the photo letterboxed to a small grey square and
predicts, on a stride-4 grid, a window score and, in every cell inside the window, a vote for
the whole oriented box (model/locator_targets.py says exactly what the maps hold). Each blob of
window cells is one candidate and only its own votes make its box, so a serial number elsewhere
cannot drag it. A window too small to show in the whole-photo view is searched for again in
zoomed tiles. Every candidate gets a second, closer look; the one that look is surest of wins,
and a photo where no look confirms anything has no counter (None), which the pipeline reports
as `unreadable`.

Pure numpy/cv2: the SavedModel is called through `Models.locator` from model/runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.image_io import shrink
from model.locator_targets import decode_candidates, quad_geometry
from model.normalise import to_gray

DEFAULT_INPUT_SIZE = 192
MAPS_OUTPUT = "maps"  # the locator signature's output: (N, S/4, S/4, MAP_CHANNELS) float32
DEFAULT_SCORE_THRESHOLD = 0.5  # cell score that belongs to the window
DEFAULT_MIN_SCORE = 0.55  # mean score of the blob below which nothing was found
# Window length / side of the second pass's view. Training renders its second-pass views at
# this share, spread by the first pass's size errors (model/train_locator.py; locator-s10000's
# were rendered at 0.35, so 0.28-0.44). On 600 held-out scenes with s10000, 0.4 rather than
# 0.35 found the same or one more in 300, with boxes at IoU>=0.7 in 91% rather than 87%.
REFINE_FRACTION = 0.4
# A second look at the first pass's runner-up, when there is one: with locator-s6000 it found a
# counter outscored by a serial from afar (1 in 300 held-out scenes); s10000 needs it less.
MAX_CANDIDATES = 2  # first-pass finds per photo that get a second look
# A window under ~30 px long in the whole-photo view (a small counter on a big photo) scores
# nothing there; 4 overlapping tiles, each this share of the photo's longer side, show it 1.7x
# larger. Looked at only where the whole view found nothing (locator-s6000: 9 of 300 held-out
# scenes found this way).
SEARCH_TILE = 0.6
# A tile find must be confirmed as surely as a window the pipeline may accept: in 600 held-out
# scenes tile finds of real counters were confirmed at 0.81-0.94, of meters with no counter in
# view mostly below 0.8 (a searched photo is one the whole view found nothing in).
SEARCH_MIN_SCORE = 0.8
# Views per locator call. Its activations at 192 px outgrow the CPU's caches in big batches: one
# thread took ~1.8-1.9 ms per view in calls of 8-32 views and 2.3-2.5 ms in calls of 64.
LOCATOR_CHUNK = 16


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
        return ((points - self._offset) / self.scale).astype(np.float32)

    def to_view(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) float points in photo pixels -> locator-input pixels (training targets)."""
        return (points * self.scale + self._offset).astype(np.float32)

    @property
    def _offset(self) -> np.ndarray:
        return np.array([self.offset_x, self.offset_y], dtype=np.float32)


def letterbox_grey(image: np.ndarray, size: int = DEFAULT_INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """Fit a photo into a size x size grey square, aspect kept, centred, padded with mid-grey.

    image: (H, W, 3) uint8 BGR or (H, W) uint8 grey. Returns ((size, size) uint8, Letterbox).
    """
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    grey = to_gray(image)
    if scale < 1:
        grey = shrink(grey, (new_w, new_h))
    else:
        grey = cv2.resize(grey, (new_w, new_h), interpolation=cv2.INTER_AREA)
    square = np.full((size, size), 128, dtype=np.uint8)
    off_x, off_y = (size - new_w) // 2, (size - new_h) // 2
    square[off_y:off_y + new_h, off_x:off_x + new_w] = grey
    return square, Letterbox(new_w / width, float(off_x), float(off_y))


def zoom_square(image: np.ndarray, centre: np.ndarray, side: float,
                size: int = DEFAULT_INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """A size x size grey view of the square of `side` px around `centre`, padded mid-grey
    where it leaves the photo. image: (H, W, 3) uint8 BGR or (H, W) grey.
    Returns ((size, size) uint8, Letterbox)."""
    side = max(-(-int(round(side)) // 4) * 4, 8)  # a multiple of 4, so `shrink` can halve it
    x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
    height, width = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    canvas = np.full((side, side), 128, dtype=np.uint8)
    if cx1 > cx0 and cy1 > cy0:
        region = image[cy0:cy1, cx0:cx1]
        canvas[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = to_gray(region)
    square = shrink(canvas, (size, size)) if side > size else cv2.resize(canvas, (size, size))
    scale = size / side
    return square, Letterbox(scale, -x0 * scale, -y0 * scale)


def search_tiles(image: np.ndarray, size: int = DEFAULT_INPUT_SIZE) -> list[tuple[np.ndarray, Letterbox]]:
    """Zoomed grey views that together cover the photo: squares of SEARCH_TILE of its longer side
    at its corners (one row or column where the photo is narrower than a tile).
    image: (H, W, 3) uint8 BGR or (H, W) grey. Returns [((size, size) uint8, Letterbox)]."""
    height, width = image.shape[:2]
    side = SEARCH_TILE * max(height, width)
    xs = [width / 2] if width <= side else [side / 2, width - side / 2]
    ys = [height / 2] if height <= side else [side / 2, height - side / 2]
    return [zoom_square(image, np.array([x, y]), side, size) for y in ys for x in xs]


def locate_counters(images: list[np.ndarray], locator) -> list[CounterBox | None]:
    """Find the counter window of each photo in three batched locator calls for the whole list.

    First the whole photo, then zoomed tiles of the photos where that found nothing; then a
    second look at a square around each of the MAX_CANDIDATES strongest finds, zoomed so the
    window is as large as the biggest ones in training (REFINE_FRACTION of the view): the box
    gets several times finer, and a find no closer look confirms is dropped (a serial number or
    a label seen from afar; one found only in the tiles needs SEARCH_MIN_SCORE). The photo's
    box is the surest of those second looks.
    images: list of (H, W, 3) uint8 BGR or (H, W) grey. locator: `Models.locator` (a
    runtime.SavedModelRunner: `.predict_outputs`, `.metadata`).
    Returns one CounterBox (full-image pixels) or None (no counter) per photo.
    """
    size = int(locator.metadata.get("input_size", DEFAULT_INPUT_SIZE))
    candidates = _run_locator([letterbox_grey(image, size) for image in images], locator)
    searched = [(i, tile) for i, found in enumerate(candidates) if not found
                for tile in search_tiles(images[i], size)]
    for (i, _), found in zip(searched, _run_locator([tile for _, tile in searched], locator)):
        candidates[i].extend(found)
    strongest = [sorted(found, key=lambda box: -box.score)[:MAX_CANDIDATES] for found in candidates]
    boxes = _refine(images, strongest, locator, size)
    unsure = {i for i, _ in searched}
    return [None if i in unsure and box is not None and box.score < SEARCH_MIN_SCORE else box
            for i, box in enumerate(boxes)]


def refine_side(length: float, height: float) -> float:
    """Side of the second look's square around a window of this length and height (photo
    pixels): the window is REFINE_FRACTION of it, and a short, tall window keeps its context.
    Training cuts its second-pass views with the same rule (model/train_locator.py)."""
    return max(length / REFINE_FRACTION, 4 * height)


def _refine(images, candidates: list[list[CounterBox]], locator, size: int) -> list[CounterBox | None]:
    owners, views = [], []
    for i, found in enumerate(candidates):
        for box in found:
            centre, length, height, _ = quad_geometry(box.quad)
            owners.append(i)
            views.append(zoom_square(images[i], centre, refine_side(length, height), size))
    refined: list[CounterBox | None] = [None] * len(images)
    for i, found in zip(owners, _run_locator(views, locator, limit=1)):
        if found and (refined[i] is None or found[0].score > refined[i].score):
            refined[i] = found[0]
    return refined


def _run_locator(views: list[tuple[np.ndarray, Letterbox]], locator,
                 limit: int | None = None) -> list[list[CounterBox]]:
    """One batched locator call on prepared grey squares: for each view, the windows it shows
    (strongest first, at most `limit`) that score at least min_score, in photo pixels."""
    if not views:
        return []
    meta = locator.metadata
    batch = np.stack([square for square, _ in views]).astype(np.float32)[..., None] / 255.0
    chunks = [batch[start:start + LOCATOR_CHUNK] for start in range(0, len(batch), LOCATOR_CHUNK)]
    all_maps = np.concatenate([np.asarray(locator.predict_outputs(chunk)[MAPS_OUTPUT], dtype=np.float32)
                               for chunk in chunks])
    threshold = float(meta.get("score_threshold", DEFAULT_SCORE_THRESHOLD))
    min_score = float(meta.get("min_score", DEFAULT_MIN_SCORE))
    return [[CounterBox(letterbox.to_image(quad), score, orientation)
             for quad, score, orientation in decode_candidates(maps, score_threshold=threshold, limit=limit)
             if score >= min_score]
            for maps, (_, letterbox) in zip(all_maps, views)]

"""Mechanical drum counters rendered with known readings.

Odometer rule (DESIGN.md): the last drum turns continuously; a higher drum turns only while
every drum to its right passes 9 -> 0, in step with them. A drum caught between d and d+1 reads
as d, so the label is floor(meter value): the digits at rest, whatever the roll.
Images are BGR uint8, a few drums high-resolution enough to be downscaled by the reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.synth.fonts import font_paths, glyph_mask

MIN_DIGITS, MAX_DIGITS = 4, 10
REST_JITTER = 0.12  # a drum at rest sits up to this fraction of a digit past its value, never before
LAST_DRUM_TURNING = 0.6  # share of counters whose last drum is caught mid-roll (the rest: at rest)
MAX_ROLL = 0.98  # the last drum's roll, at most: past it the next digit is indistinguishable from at rest
ROLLING_EDGE = 0.85  # sample_edge_odometer: from here on, the next digit shows nearly centred
# sample_edge_odometer's share of drums nearly onto their next digit, the rest just arrived: the
# same odds as in sample_odometer's counters, so that training on it moves no decision towards
# either reading (at half each, clean drums at rest were read as the digit before 2.5% of the time)
_NEARLY_NEXT = LAST_DRUM_TURNING * (MAX_ROLL - ROLLING_EDGE) / MAX_ROLL
_AT_REST = 1 - LAST_DRUM_TURNING + LAST_DRUM_TURNING * REST_JITTER / MAX_ROLL  # or turned no further
EDGE_SHARE = _NEARLY_NEXT / (_NEARLY_NEXT + _AT_REST)
# (background BGR, digit BGR) pairs seen on real drums
DRUM_COLOURS = (
    ((235, 235, 235), (20, 20, 20)),
    ((25, 25, 25), (235, 235, 235)),
    ((40, 40, 40), (220, 220, 220)),
    ((215, 225, 230), (40, 40, 40)),
    ((30, 30, 190), (240, 240, 240)),  # red drum, white digits (fractional drums)
    ((235, 235, 235), (30, 30, 200)),  # white drum, red digits
    ((60, 40, 30), (230, 230, 230)),
)


@dataclass(frozen=True)
class OdometerState:
    digits: tuple[int, ...]  # the label, left to right
    offsets: tuple[float, ...]  # how far each drum has turned past its digit, in digits [0, 1)

    @property
    def label(self) -> str:
        return "".join(map(str, self.digits))


def sample_odometer(rng: np.random.Generator, n_digits: int) -> OdometerState:
    """Random reading (every digit uniform at every position) and the drums' roll."""
    digits = rng.integers(0, 10, n_digits)
    if rng.random() < 0.25:  # leading zeros, common on real meters
        digits[: rng.integers(1, n_digits)] = 0
    if rng.random() < 0.05:  # a carry through trailing nines (kept rare: it skews the last digits to 9)
        digits[n_digits - rng.integers(1, min(4, n_digits) + 1) :] = 9
    offsets = rest_offsets(rng, n_digits)
    if rng.random() < LAST_DRUM_TURNING:
        turn_last_drum(digits, offsets, rng.uniform(0.0, MAX_ROLL))
    return OdometerState(tuple(int(d) for d in digits), tuple(float(o) for o in offsets))


def sample_edge_odometer(rng: np.random.Generator, n_digits: int) -> OdometerState:
    """sample_odometer with the last drum at the edge between two readings: nearly onto its next
    digit (ROLLING_EDGE to MAX_ROLL of the way: it reads the digit before) or at rest (it reads
    the digit it shows), in sample_odometer's odds (EDGE_SHARE). Only a pixel or two tells the
    two apart. A training source (model.train_data); the held-out sets keep sample_odometer's."""
    state = sample_odometer(rng, n_digits)
    digits, offsets = np.array(state.digits), np.array(state.offsets)
    if rng.random() < EDGE_SHARE:
        roll = rng.uniform(ROLLING_EDGE, MAX_ROLL)
    else:
        roll = float(rest_offsets(rng, 1)[0])
    turn_last_drum(digits, offsets, roll)
    return OdometerState(state.digits, tuple(float(o) for o in offsets))


def rest_offsets(rng: np.random.Generator, n_drums: int) -> np.ndarray:
    """(n_drums,) float: how far drums at rest sit past their digit: half exactly on it, half up
    to REST_JITTER past it."""
    return rng.uniform(0.0, REST_JITTER, n_drums) * (rng.random(n_drums) < 0.5)


def turn_last_drum(digits: np.ndarray, offsets: np.ndarray, roll: float) -> None:
    """Set the last drum's roll in place; the carries to its left (drums over a run of 9s)
    turn in step with it."""
    offsets[-1] = roll
    for i in range(len(digits) - 2, -1, -1):
        if digits[i + 1] != 9:
            break
        offsets[i] = roll


def _drum_window(rng, digit: int, offset: float, glyphs: dict, cell_w: int, cell_h: int,
                 pitch: int, colours) -> np.ndarray:
    """(cell_h, cell_w, 3) uint8: one drum showing `digit` turned `offset` towards digit+1."""
    strip = np.zeros((pitch * 2, cell_w), np.float32)
    for slot, value in enumerate((digit, (digit + 1) % 10)):
        g = glyphs[value]
        gh, gw = g.shape
        top, left = slot * pitch + (pitch - gh) // 2, max(0, (cell_w - gw) // 2)
        strip[top : top + gh, left : left + min(gw, cell_w)] = g[:, : cell_w]
    top = int(round(offset * pitch + (pitch - cell_h) / 2))
    top = int(np.clip(top, 0, 2 * pitch - cell_h))
    alpha = strip[top : top + cell_h, :, None]
    bg, fg = (np.array(c, np.float32) for c in colours)
    shade = 1.0 - rng.uniform(0.1, 0.5) * np.linspace(-1, 1, cell_h) ** 2  # cylinder
    window = (bg * (1 - alpha) + fg * alpha) * shade[:, None, None]
    return np.clip(window, 0, 255).astype(np.uint8)


def _glyph_set(rng, glyph_h: int, stretch: float) -> dict[int, np.ndarray]:
    font = int(rng.integers(0, len(font_paths())))
    size = max(8, int(glyph_h * 1.35))
    glyphs = {}
    for d in range(10):
        mask = glyph_mask(font, size, str(d), 1.0)
        width = max(2, int(round(mask.shape[1] * glyph_h / mask.shape[0] * stretch)))
        glyphs[d] = cv2.resize(mask, (width, glyph_h), interpolation=cv2.INTER_AREA)
    return glyphs


def render_drums(rng: np.random.Generator, state: OdometerState) -> np.ndarray:
    """OdometerState -> (H, W, 3) uint8 BGR image of the counter window with its frame."""
    n = len(state.digits)
    cell_h = int(rng.integers(28, 60))
    cell_w = int(cell_h * rng.uniform(0.5, 0.8))
    glyph_h = int(cell_h * rng.uniform(0.5, 0.75))
    pitch = int(max(glyph_h + 2, cell_h * rng.uniform(0.85, 1.2)))
    glyphs = _glyph_set(rng, glyph_h, rng.uniform(0.75, 1.15))
    gap = int(cell_w * rng.uniform(0.0, 0.35))
    face = rng.integers(0, 256, 3)
    main = DRUM_COLOURS[rng.integers(0, len(DRUM_COLOURS))]
    tail = DRUM_COLOURS[rng.integers(0, len(DRUM_COLOURS))]
    n_tail = int(rng.integers(1, 4)) if rng.random() < 0.3 else 0
    margin_x, margin_y = int(rng.integers(0, cell_w)), int(rng.integers(0, cell_h // 2))
    width = 2 * margin_x + n * cell_w + (n - 1) * gap
    image = np.empty((cell_h + 2 * margin_y, width, 3), np.uint8)
    image[:] = face
    separator = (rng.integers(0, 80, 3) if rng.random() < 0.7 else face)
    for i, (digit, offset) in enumerate(zip(state.digits, state.offsets)):
        colours = tail if i >= n - n_tail else main
        x = margin_x + i * (cell_w + gap)
        image[margin_y : margin_y + cell_h, x : x + cell_w] = _drum_window(
            rng, digit, offset, glyphs, cell_w, cell_h, pitch, colours)
        if gap and i < n - 1:
            image[margin_y : margin_y + cell_h, x + cell_w : x + cell_w + gap] = separator
    if rng.random() < 0.6:  # a frame around the window
        thickness = int(rng.integers(1, 4))
        cv2.rectangle(image, (0, 0), (width - 1, image.shape[0] - 1), rng.integers(0, 256, 3).tolist(), thickness)
    return image


def sample_drum_counter(rng: np.random.Generator, n_digits: int | None = None) -> tuple[np.ndarray, str]:
    """A random drum counter: ((H,W,3) uint8 BGR image, label digits)."""
    image, state = sample_drums(rng, n_digits)
    return image, state.label


def sample_drums(rng: np.random.Generator, n_digits: int | None = None, *,
                 odometer=sample_odometer) -> tuple[np.ndarray, OdometerState]:
    """sample_drum_counter with the drums' state (how far each had turned) instead of the label.
    `odometer(rng, n_digits)` draws the state (sample_odometer, or sample_edge_odometer)."""
    n = int(n_digits or rng.integers(MIN_DIGITS, MAX_DIGITS + 1))
    state = odometer(rng, n)
    return render_drums(rng, state), state

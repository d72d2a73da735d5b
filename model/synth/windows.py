"""Printed parts of whole-photo scenes: seven-segment LCD values and stamped digit strings.

Drum counters come from the reader's renderer (model/synth/counters.py), so the windows in
scenes look like the crops the reader learned from. `stamp_digits` prints serial numbers in the
same fonts: the hard negatives that teach the locator a counter is not just any row of digits.
"""

from __future__ import annotations

import cv2
import numpy as np

from model.synth.fonts import glyph_mask

HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN,
           cv2.FONT_HERSHEY_COMPLEX)


def colour(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, 3))


def stamp_digits(canvas: np.ndarray, text: str, x: float, y: float, height: int,
                 ink, font: int, gap: float = 0.15) -> float:
    """Print digits with the counter fonts (hard negatives look like counters). Returns end x."""
    for char in text:
        if char == " ":
            x += height * 0.4
            continue
        mask = glyph_mask(font, max(6, int(height * 1.35)), char)
        scale = height / mask.shape[0]
        mask = cv2.resize(mask, (max(1, int(mask.shape[1] * scale)), height))
        blend(canvas, mask, int(x), int(y), ink)
        x += mask.shape[1] + height * gap
    return x


def blend(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, ink) -> None:
    """Paint `ink` into canvas[y:, x:] through a float alpha mask (clipped at the edges)."""
    h, w = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    alpha = mask[y0 - y:y1 - y, x0 - x:x1 - x, None]
    region = canvas[y0:y1, x0:x1, :3].astype(np.float32)
    canvas[y0:y1, x0:x1, :3] = (region * (1 - alpha) + np.float32(ink) * alpha).astype(np.uint8)


def draw_seven_segment(rng: np.random.Generator, count: int, digit_h: int) -> tuple[np.ndarray, str, int]:
    """An LCD value with ghost segments. Returns ((h, w, 3) uint8 BGR, label, decimal position)."""
    value = "".join(str(d) for d in rng.integers(0, 10, count))
    if rng.random() < 0.5:
        lead = int(rng.integers(1, max(2, count - 1)))
        value = "0" * lead + value[lead:]
    digit_w, thick = int(digit_h * rng.uniform(0.45, 0.6)), max(2, int(digit_h * rng.uniform(0.09, 0.14)))
    pad, pitch = digit_h // 4, int(digit_w * rng.uniform(1.25, 1.5))
    bg = np.array(colour(rng, 120, 200)) * np.array([0.8, 1.0, 0.9])
    panel = np.zeros((digit_h + 2 * pad, count * pitch + 2 * pad, 3), np.uint8)
    panel[:] = bg.astype(np.uint8)
    ink, ghost = colour(rng, 10, 50), (bg * rng.uniform(0.82, 0.93)).astype(int).tolist()
    slant = rng.uniform(0, 0.15)
    decimals = int(rng.integers(0, 3))
    for i, char in enumerate(value):
        x = pad + i * pitch
        for segment in range(7):
            _segment(panel, segment, x, pad, digit_w, digit_h, thick, slant, ghost)
        for segment in _SEGMENTS_ON[int(char)]:
            _segment(panel, segment, x, pad, digit_w, digit_h, thick, slant, ink)
        if decimals and i == count - decimals - 1:
            cv2.circle(panel, (x + digit_w + (pitch - digit_w) // 2, pad + digit_h - thick // 2),
                       max(1, thick // 2 + 1), ink, -1)
    return panel, value, decimals


# Segments a..g: 0 top, 1 top-right, 2 bottom-right, 3 bottom, 4 bottom-left, 5 top-left, 6 middle.
_SEGMENTS_ON = {0: (0, 1, 2, 3, 4, 5), 1: (1, 2), 2: (0, 1, 6, 4, 3), 3: (0, 1, 6, 2, 3),
                4: (5, 6, 1, 2), 5: (0, 5, 6, 2, 3), 6: (0, 5, 6, 4, 3, 2), 7: (0, 1, 2),
                8: (0, 1, 2, 3, 4, 5, 6), 9: (0, 1, 2, 3, 5, 6)}


def _segment(panel, index, x, y, w, h, t, slant, colour) -> None:
    half = h / 2
    ends = {0: ((0, 0), (w, 0)), 1: ((w, 0), (w, half)), 2: ((w, half), (w, h)),
            3: ((0, h), (w, h)), 4: ((0, half), (0, h)), 5: ((0, 0), (0, half)),
            6: ((0, half), (w, half))}[index]
    points = np.array([(x + px + slant * (h - py), y + py) for px, py in ends], np.float32)
    shrink = (points[1] - points[0]) * (t * 0.7 / max(np.linalg.norm(points[1] - points[0]), 1))
    cv2.line(panel, tuple(np.round(points[0] + shrink).astype(int)),
             tuple(np.round(points[1] - shrink).astype(int)), colour, t, cv2.LINE_AA)

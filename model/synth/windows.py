"""Printed parts of whole-photo scenes: colours, alpha blending and stamped digit strings.

Counter windows come from the reader's renderers (model/synth/counters.py, lcd.py), so the
windows in scenes look like the crops the reader learned from. `stamp_digits` prints serial numbers in the
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

"""Digit glyphs from fonts that install with PyPI packages (matplotlib ships DejaVu, STIX and
Computer Modern TTFs), rendered once per (font, size) and cached as alpha masks."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
# Faces whose digits resemble counter drums (upright, plain); italics and symbol fonts excluded.
DIGIT_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)


def font_paths() -> list[Path]:
    """Installed digit fonts (at least one, else the renderer cannot work)."""
    paths = [_FONT_DIR / name for name in DIGIT_FONTS if (_FONT_DIR / name).is_file()]
    if not paths:
        raise FileNotFoundError(f"no digit fonts found under {_FONT_DIR}")
    return paths


@lru_cache(maxsize=4096)
def glyph_mask(font_index: int, size: int, digit: str, stretch_x: float = 1.0) -> np.ndarray:
    """(h,w) float32 alpha in [0,1]: `digit` drawn in font `font_index` at pixel `size`, cropped
    to its ink, then scaled horizontally by `stretch_x` (condensed drum faces)."""
    font = ImageFont.truetype(str(font_paths()[font_index]), size)
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), digit, fill=255, font=font)
    ink = np.asarray(canvas)
    rows, cols = np.nonzero(ink > 0)
    mask = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    if stretch_x != 1.0:
        new_w = max(2, int(round(mask.shape[1] * stretch_x)))
        mask = np.asarray(Image.fromarray(mask).resize((new_w, mask.shape[0]), Image.BILINEAR))
    return mask.astype(np.float32) / 255.0

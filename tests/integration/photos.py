"""Small test photos made with Pillow: meter-like JPEGs, blank frames and broken files.

Tests that need photos whose exact reading matters use `model.samples`; these are for wiring
(statuses that do not depend on the reader: broken inputs -> error, blank frames -> unreadable).
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def meter_jpeg(seed: int, *, size: tuple[int, int] = (480, 360)) -> bytes:
    """A grey panel with a dark counter window and white digits, lightly blurred."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randint(150, 210) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    x0, y0 = rng.randint(60, 120), rng.randint(120, 170)
    draw.rectangle([x0, y0, x0 + 260, y0 + 60], fill=(20, 20, 20))
    digits = "".join(rng.choice("0123456789") for _ in range(6))
    for i, digit in enumerate(digits):
        draw.text((x0 + 14 + i * 42, y0 + 12), digit, fill=(240, 240, 240), font_size=36)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    return encode(image, "JPEG")


def blank_jpeg(value: int = 128, *, size: tuple[int, int] = (480, 360)) -> bytes:
    """A uniform frame: nothing to read (the pipeline's triage calls it unreadable)."""
    return encode(Image.new("RGB", size, (value, value, value)), "JPEG")


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, quality=90)
    return out.getvalue()


NOT_AN_IMAGE = b"this is a text file that was named .jpg by mistake\n"

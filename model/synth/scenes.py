"""Whole meter photos with known readings and counter boxes (locator training, samples, eval).

A scene is a meter plate (model/synth/plates.py) placed in a background (wall, pipes, a dark
cupboard) through one homography: scale so the counter is 15-40% of the photo's width, rotation
(mostly small, fixed cameras at 30-45 degrees, up to +-90), perspective. Then what cameras do:
glare on the glass, shadows, LED colour casts, blur, noise. The same homography moves the
counter's quad, so the box is exact. Negatives (blank, dark, clutter, meters with no counter
visible) have quad None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from model.synth.plates import CounterWindow, Plate, draw_gas_plate, draw_lcd_plate, draw_water_plate
from model.synth.windows import colour, stamp_digits

METER_KINDS = ("water", "gas", "lcd")
NEGATIVE_KINDS = ("blank", "dark", "clutter", "no_counter")
COUNTER_SHARE = (0.15, 0.4)  # the counter window's width / the photo's, in field photos
CLOSE_UP_SHARE = (0.4, 0.75)  # the same in close-ups (field staff photographing an LCD)
_PLATES = {"water": draw_water_plate, "gas": draw_gas_plate, "lcd": draw_lcd_plate}


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (H, W, 3) uint8 BGR
    label: str | None  # the true reading; None when the photo shows no counter
    quad: np.ndarray | None  # (4, 2) float32 counter window corners, reading order, pixels
    kind: str  # one of METER_KINDS or NEGATIVE_KINDS


def render_scene(rng: np.random.Generator, width: int = 640, height: int = 480,
                 kind: str | None = None, max_rotation: float = 90.0,
                 counter_share: tuple[float, float] = COUNTER_SHARE,
                 drum_counters: Callable[[np.random.Generator], CounterWindow] | None = None) -> Scene:
    """One random photo of `kind` (a meter kind by default, chosen at random), its counter
    window `counter_share` (low, high) of the photo's width. `drum_counters` (rng -> (image,
    reading)), when given, fills the water and gas meters' windows instead of rendered drums,
    e.g. model.real_digits.RealCounterSource: counters made of real digit crops."""
    kind = kind or str(rng.choice(METER_KINDS))
    if kind in ("blank", "dark"):
        return Scene(_empty_photo(rng, width, height, dark=kind == "dark"), None, None, kind)
    image = background(rng, width, height)
    if kind == "clutter":
        _scatter_digits(rng, image)
        return Scene(camera_effects(rng, image), None, None, kind)
    meter_kind = str(rng.choice(METER_KINDS)) if kind == "no_counter" else kind
    counter_width = width * rng.uniform(*counter_share)
    if drum_counters is not None and meter_kind != "lcd" and kind != "no_counter":
        plate = _PLATES[meter_kind](rng, counter_width, counter=drum_counters(rng))
    else:
        plate = _PLATES[meter_kind](rng, counter_width, with_counter=kind != "no_counter")
    homography = _placement(rng, plate, width, height, max_rotation)
    image = _composite(image, plate.image, homography)
    quad = None if plate.quad is None else _transform(plate.quad, homography)
    return Scene(camera_effects(rng, image), plate.label, quad, kind)


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8: smooth wall/cupboard tones, texture, pipes and edges."""
    low = rng.integers(0, 256, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3)).astype(np.uint8)
    image = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * rng.uniform(0.1, 0.7)  # walls and cupboards are not neon
    image *= rng.uniform(0.3, 1.0)  # cupboards are dark
    texture = cv2.resize(rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).astype(np.float32),
                         (width, height))
    image += texture[..., None] * rng.uniform(0, 18)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 4))):  # pipes: thick shaded bands, copper or grey
        _pipe(rng, image)
    for _ in range(int(rng.integers(0, 4))):  # cupboard edges, boxes
        p = rng.integers(0, max(width, height), 4)
        cv2.rectangle(image, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour(rng, 0, 256),
                      int(rng.integers(1, max(2, width // 60))))
    return image


def _pipe(rng, image) -> None:
    height, width = image.shape[:2]
    thickness = int(rng.uniform(0.04, 0.15) * min(width, height))
    start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
    angle = rng.uniform(0, np.pi)
    end = (int(start[0] + 3 * width * np.cos(angle)), int(start[1] + 3 * width * np.sin(angle)))
    start = (int(start[0] - 3 * width * np.cos(angle)), int(start[1] - 3 * width * np.sin(angle)))
    base = np.array(colour(rng, 60, 220), np.float32)
    for i, shade in enumerate(np.linspace(0.5, 1.2, 6)):  # fake cylinder shading
        cv2.line(image, start, end, np.clip(base * shade, 0, 255).tolist(), max(1, thickness - i * thickness // 6))


def _scatter_digits(rng, image) -> None:
    """Clutter with digits that are not counters: stickers, labels, a calendar."""
    height, width = image.shape[:2]
    for _ in range(int(rng.integers(1, 6))):
        digit_h = int(rng.uniform(0.02, 0.08) * height)
        text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(3, 10))))
        x, y = rng.uniform(0, width * 0.7), rng.uniform(0, height * 0.9)
        stamp_digits(image, text, x, y, max(5, digit_h), colour(rng, 0, 256), int(rng.integers(4)))


def _empty_photo(rng, width: int, height: int, dark: bool) -> np.ndarray:
    base = rng.uniform(0, 14) if dark else rng.uniform(30, 240)
    gradient = np.linspace(-1, 1, width)[None, :] * rng.uniform(0, 6 if dark else 25)
    image = base + gradient + rng.normal(0, rng.uniform(0.5, 3), (height, width))
    return np.repeat(np.clip(image, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _rotation_degrees(rng, max_rotation: float) -> float:
    """Mostly near upright; fixed cameras at 30-45 degrees; sometimes anything up to the max."""
    choice = rng.random()
    if choice < 0.5:
        angle = rng.normal(0, 6)
    elif choice < 0.75:
        angle = rng.uniform(30, 45) * rng.choice([-1, 1])
    else:
        angle = rng.uniform(-max_rotation, max_rotation)
    return float(np.clip(angle, -max_rotation, max_rotation))


def _placement(rng, plate: Plate, width: int, height: int, max_rotation: float) -> np.ndarray:
    """3x3 homography plate -> photo that keeps the whole counter inside the frame."""
    h, w = plate.image.shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    tilt = rng.uniform(-0.12, 0.12, (4, 2)) * np.array([w, h]) * (rng.random() < 0.6)
    perspective = cv2.getPerspectiveTransform(corners, (corners + tilt).astype(np.float32))
    angle = np.deg2rad(_rotation_degrees(rng, max_rotation))
    rotate = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    matrix = rotate @ perspective
    quad = plate.quad if plate.quad is not None else corners * 0.5 + np.float32([w, h]) * 0.25
    for _ in range(8):  # shrink until the counter fits with a margin
        moved = _transform(quad, matrix)
        span = moved.max(0) - moved.min(0)
        if span[0] <= width * 0.9 and span[1] <= height * 0.9:
            break
        matrix = np.diag([0.85, 0.85, 1.0]) @ matrix
    low = -moved.min(0) + np.array([width, height]) * 0.05
    high = np.array([width, height]) * 0.95 - moved.max(0)
    shift = rng.uniform(low, np.maximum(high, low))
    return np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]]) @ matrix


def _transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), matrix).reshape(-1, 2).astype(np.float32)


def _composite(image: np.ndarray, plate: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    warped = cv2.warpPerspective(plate, matrix, (width, height), flags=cv2.INTER_LINEAR)
    alpha = warped[..., 3:4].astype(np.float32) / 255.0
    return (image * (1 - alpha) + warped[..., :3] * alpha).astype(np.uint8)


def camera_effects(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Glare, shadow, colour cast, exposure, blur and noise on a (H, W, 3) uint8 photo."""
    height, width = image.shape[:2]
    out = image.astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
    if rng.random() < 0.5:  # soft shadow: a dark half-plane with a blurred edge
        angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.8)
        side = np.cos(angle) * xx + np.sin(angle) * yy - offset
        out *= (1 - rng.uniform(0.2, 0.6) / (1 + np.exp(-side * 40)))[..., None]
    if rng.random() < 0.4:  # glare on the glass
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, height / width), rng.uniform(0.02, 0.12)
        out += (np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) * rng.uniform(80, 220))[..., None]
    out = out * rng.uniform(0.85, 1.15, 3) * rng.uniform(0.6, 1.3) + rng.uniform(-20, 20)
    out = np.clip(out, 0, 255).astype(np.uint8)
    sigma = rng.choice([0, 0, rng.uniform(0.3, 1.5)]) * width / 640
    if sigma > 0.2:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    noise = rng.normal(0, rng.uniform(0, 6), out.shape).astype(np.float32)
    return np.clip(out + noise, 0, 255).astype(np.uint8)

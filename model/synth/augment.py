"""Field augmentations for counter crops: what phones and fixed cameras do to a counter window.

Each function takes and returns (H,W,3) uint8 BGR; `augment_counter` applies a random subset.
"""

from __future__ import annotations

import cv2
import numpy as np

from model.normalise import pad_or_cut


def perspective(rng, image: np.ndarray, strength: float = 0.06) -> np.ndarray:
    """Small rotation/perspective, as a slightly misaligned crop from the locator would be.
    The corners' vertical jitter has zero mean so the digits stay centred in height: how far a
    drum sits from the window's centre is what tells 8.9 (reads 8) from 9.0 (reads 9)."""
    h, w = image.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-strength, strength, (4, 2)) * np.float32([w * 0.25, h])
    jitter[:, 1] -= jitter[:, 1].mean()
    dst = (src + jitter).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def tilt(rng, image: np.ndarray, max_degrees: float = 7.0) -> np.ndarray:
    """A window straightened a few degrees off, as a hand-cropped photo or a locator's angle
    error leaves it. A rotation about the centre keeps the digits centred on average (see
    `perspective`); without it reader-1.4 read 69% of real test counters turned 4 degrees
    (92% upright) and accepted 5-9% of them wrong."""
    return turn(image, rng.uniform(-max_degrees, max_degrees))


def turn(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre, same size, edges filled with the edge colour."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def crop_jitter(rng, image: np.ndarray) -> np.ndarray:
    """Loose or tight crop: add a border of the edge colour or cut a few pixels. Top and bottom
    need not move together: how far a rolling drum sits from the window's middle tells which
    digit it shows (see `perspective`), but no crop is framed exactly (the locator's window
    centre is off by up to 9% of its height in one scene in ten), and the resting drums beside a
    rolling one are the reference. Trained with top = bottom, reader-1.4 read 83% of real test
    counters with 15% more above than below (92% centred); reader-1.6, trained with this, 89%.
    Loose crops: up to 25% of the height above and below and 30% of it at each end (from other
    cameras, or cut by hand); reader-1.6 saw at most 1.5% of the width at each end and read 81%
    of real test counters with 20% of the height above and below and 10% of the width at each
    end, reader-1.9, trained with this, 86%. Left and right move independently."""
    h = image.shape[0]
    pads = (rng.uniform([-0.05, -0.05, -0.02, -0.02], [0.25, 0.25, 0.3, 0.3]) * h).astype(int)
    pads[1] = pads[0] + int(rng.uniform(-0.08, 0.08) * h)
    return pad_or_cut(image, *map(int, pads))


def bezel(rng, image: np.ndarray) -> np.ndarray:
    """A dark (or coloured) housing edge around a loosely cropped window: bars at the crop's edges
    that must not read as a 1."""
    h = image.shape[0]
    sides = (rng.uniform(0, 0.25, 4) * (rng.random(4) < 0.6) * h).astype(int)
    colour = rng.integers(0, 60, 3) if rng.random() < 0.8 else rng.integers(0, 256, 3)
    return cv2.copyMakeBorder(image, *map(int, sides), cv2.BORDER_CONSTANT, value=colour.tolist())


def uneven_light(rng, image: np.ndarray) -> np.ndarray:
    """A linear light gradient, a shadow band, a glare spot and/or a washed-out band."""
    h, w = image.shape[:2]
    gain = np.ones((h, w), np.float32)
    if rng.random() < 0.6:
        gx, gy = rng.uniform(-0.5, 0.5, 2)
        gain *= 1 + gx * np.linspace(-1, 1, w)[None, :] + gy * np.linspace(-1, 1, h)[:, None]
    if rng.random() < 0.3:  # shadow across part of the window
        x0 = int(rng.integers(0, w))
        gain[:, x0 : x0 + int(rng.integers(w // 8, w // 2 + 2))] *= rng.uniform(0.35, 0.8)
    out = image.astype(np.float32) * np.clip(gain, 0.2, 2.0)[:, :, None]
    if rng.random() < 0.25:  # glare spot
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.05, 0.3) * w
        yy, xx = np.mgrid[0:h, 0:w]
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        out += spot[:, :, None] * rng.uniform(60, 200)
    if rng.random() < 0.2:
        out = _washout_band(rng, out)
    return np.clip(out, 0, 255).astype(np.uint8)


def _washout_band(rng, image: np.ndarray) -> np.ndarray:
    """Light reflected off the glass over one or two digits: a soft-edged vertical band where the
    digits fade into a bright haze (the real PHCN LCD's last digit sits in one). Without it the
    reader read a faded last LCD digit one lower, as if it were a drum caught mid-roll."""
    w = image.shape[1]
    centre, half = rng.uniform(0, w), rng.uniform(0.05, 0.2) * w
    x = np.arange(w, dtype=np.float32)
    weight = np.clip((half - np.abs(x - centre)) / max(1.0, 0.4 * half) + 0.5, 0, 1) * rng.uniform(0.35, 0.75)
    haze = rng.uniform(170, 255)
    return image * (1 - weight[None, :, None]) + haze * weight[None, :, None]


def low_contrast(rng, image: np.ndarray) -> np.ndarray:
    alpha = rng.uniform(0.25, 0.7)
    base = rng.uniform(0, 255 * (1 - alpha))
    return np.clip(image.astype(np.float32) * alpha + base, 0, 255).astype(np.uint8)


EDGE_TEXT = ("kWh", "kW", "m3", "1.8.0", "1.8.1", "0.9.1", "15.8.0", "x0.1", "A", "T1", "imp/kWh", "(60)A", "L")


def edge_text(rng, image: np.ndarray) -> np.ndarray:
    """A unit, OBIS code or rating printed beside the counter, caught by a window found a little
    too long: smaller than the counter's digits, partly cut by the crop's edge. Never a digit of
    the reading, so the label is unchanged."""
    h, w = image.shape[:2]
    text = str(rng.choice(EDGE_TEXT))
    height = h * rng.uniform(0.25, 0.55)  # printed legends are smaller than the counter's digits
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, int(height / 12))
    scale = height / cv2.getTextSize("0", font, 1.0, 1)[0][1]
    (text_w, _), _ = cv2.getTextSize(text, font, scale, thickness)
    visible = int(text_w * rng.uniform(0.3, 1.0)) + int(h * 0.1)
    pad = np.median(np.concatenate([image[:, :2].reshape(-1, 3), image[:, -2:].reshape(-1, 3)]), axis=0)
    ink = (255 - pad) * rng.uniform(0.5, 1.0) + pad * rng.uniform(0.0, 0.5)
    left = rng.random() < 0.5
    out = cv2.copyMakeBorder(image, 0, 0, visible if left else 0, 0 if left else visible,
                             cv2.BORDER_CONSTANT, value=pad.tolist())
    x = visible - text_w - int(h * 0.05) if left else w + int(h * 0.05)
    y = int(rng.uniform(height, h)) if rng.random() < 0.5 else int(h / 2 + height / 2)
    cv2.putText(out, text, (x, y), font, scale, ink.tolist(), thickness, cv2.LINE_AA)
    return out


def dirt_and_occlusion(rng, image: np.ndarray) -> np.ndarray:
    """Specks of dirt and, rarely, a thin object across the top or bottom edge."""
    out = image.copy()
    h, w = out.shape[:2]
    for _ in range(int(rng.integers(0, 12))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = rng.integers(0, 256, 3).tolist()
        cv2.circle(out, centre, int(rng.integers(1, max(2, h // 12))), colour, -1)
    if rng.random() < 0.2:  # occluder over at most ~20% of the height, never the whole digit row
        band = int(h * rng.uniform(0.05, 0.2))
        rows = slice(0, band) if rng.random() < 0.5 else slice(h - band, h)
        out[rows] = (out[rows] * 0.3 + rng.integers(0, 256, 3) * 0.7).astype(np.uint8)
    return out


def blur_noise_jpeg(rng, image: np.ndarray) -> np.ndarray:
    """Defocus/motion blur, sensor noise, down-up sampling and JPEG artefacts."""
    out = image
    if rng.random() < 0.5:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), rng.uniform(0.5, 1.6))
    if rng.random() < 0.3:
        scale = rng.uniform(0.3, 0.7)
        small = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        noise = rng.normal(0, rng.uniform(2, 14), out.shape)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        _, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return out


def augment_counter(rng: np.random.Generator, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """(H,W,3) uint8 BGR -> (H',W',3) uint8 BGR with random field degradations.
    `strength` in [0,1] scales how often each one is applied."""
    steps = (
        (0.15, edge_text), (0.8, crop_jitter), (0.3, bezel), (0.6, perspective), (0.75, tilt), (0.6, uneven_light),
        (0.25, low_contrast), (0.4, dirt_and_occlusion), (0.9, blur_noise_jpeg),
    )
    for probability, step in steps:
        if rng.random() < probability * strength:
            image = step(rng, image)
    if rng.random() < 0.1 * strength:
        image = 255 - image  # negative / inverted displays
    return image

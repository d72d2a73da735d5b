"""Meter plates for whole-photo scenes: the face a camera sees, with its counter window.

Each `draw_*_plate` returns a BGRA plate drawn at its final pixel scale (the counter window is
`counter_width` px long), the true reading, and the window's quad in plate pixels. The window
shows a rendered counter (model/synth/counters.py, lcd.py) unless the caller passes one, e.g.
composed from real digit crops. Plates carry what real meters carry around the counter: serial
numbers and model codes printed in digits much like the counter's, pointer dials, "m3"/"kWh"
marks and OBIS codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.synth.counters import sample_drum_counter
from model.synth.fonts import font_paths
from model.synth.lcd import sample_lcd_counter
from model.synth.windows import HERSHEY, colour, stamp_digits

MODEL_CODES = ("Qn 2,5 m3/h", "Q3 4", "DN20", "R160-H", "MID", "CLASS B", "G4", "Qmax 6 m3/h",
               "pmax 0.5 bar", "T30", "2019", "IP68", "Ex", "230V 50Hz", "10(60)A", "1000 imp/kWh")


@dataclass(frozen=True)
class Plate:
    image: np.ndarray  # (h, w, 4) uint8 BGRA; alpha 0 outside the meter
    quad: np.ndarray | None  # (4, 2) float32 counter window, reading order; None: no counter
    label: str | None  # the true reading: digits only, leading zeros kept


CounterWindow = tuple[np.ndarray, str]  # a counter window drawn elsewhere: (BGR uint8 image, its reading)


def _counter_patch(rng, counter_width: float, digits: int, counter: CounterWindow | None) -> tuple[np.ndarray, str]:
    patch, label = counter if counter is not None else sample_drum_counter(rng, digits)
    height = max(6, round(patch.shape[0] * counter_width / patch.shape[1]))
    interpolation = cv2.INTER_AREA if counter_width < patch.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(patch, (round(counter_width), height), interpolation=interpolation), label


def _paste(plate: np.ndarray, patch: np.ndarray, x: int, y: int) -> np.ndarray:
    """Put an opaque BGR patch at (x, y); return its quad (reading order, plate pixels)."""
    h, w = patch.shape[:2]
    plate[y:y + h, x:x + w, :3] = patch
    plate[y:y + h, x:x + w, 3] = 255
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def _serial(rng, plate, x, y, height, ink) -> None:
    """A printed serial number, sometimes with a letter prefix (cv2 text) before the digits."""
    if rng.random() < 0.5:
        prefix = "".join(rng.choice(list("ABEGKLMNSZ"), int(rng.integers(1, 3))))
        cv2.putText(plate, "No " + prefix, (int(x), int(y + height)), HERSHEY[0], height / 24,
                    ink, max(1, height // 12), cv2.LINE_AA)
        x += height * 2.4
    digits = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(5, 11))))
    stamp_digits(plate, digits, x, y, int(height), ink, int(rng.integers(len(font_paths()))))


def _codes(rng, plate, x, y, height, ink, count, upward: bool = False) -> None:
    """`count` lines of model codes, the first with its baseline at y, the others stacked below
    it, or above it when `upward` (codes printed above a counter window must stay off it)."""
    step = -1.6 * height if upward else 1.6 * height
    for i in range(count):
        text = str(rng.choice(MODEL_CODES))
        cv2.putText(plate, text, (int(x), int(y + i * step)), HERSHEY[int(rng.integers(4))],
                    height / 22, ink, max(1, int(height // 14)), cv2.LINE_AA)


def _pointer_dial(rng, plate, centre, radius) -> None:
    cx, cy = int(centre[0]), int(centre[1])
    cv2.circle(plate, (cx, cy), int(radius), colour(rng, 200, 255), -1, cv2.LINE_AA)
    cv2.circle(plate, (cx, cy), int(radius), (40, 40, 40), max(1, int(radius // 10)), cv2.LINE_AA)
    for tick in range(10):
        angle = tick * np.pi / 5
        inner, outer = radius * 0.75, radius * 0.95
        cv2.line(plate, (int(cx + inner * np.sin(angle)), int(cy - inner * np.cos(angle))),
                 (int(cx + outer * np.sin(angle)), int(cy - outer * np.cos(angle))), (30, 30, 30), 1)
    angle = rng.uniform(0, 2 * np.pi)
    tip = (int(cx + radius * 0.8 * np.sin(angle)), int(cy - radius * 0.8 * np.cos(angle)))
    cv2.line(plate, (cx, cy), tip, (30, 30, 200), max(1, int(radius // 6)), cv2.LINE_AA)


def draw_water_plate(rng: np.random.Generator, counter_width: float, with_counter: bool = True,
                     counter: CounterWindow | None = None) -> Plate:
    """A round water-meter dial: rim, face, drum window above centre, pointer dials, serial."""
    radius = counter_width / (2 * rng.uniform(0.35, 0.62))
    rim = radius * rng.uniform(0.06, 0.16)
    size = int(2 * (radius + rim)) + 4
    plate = np.zeros((size, size, 4), np.uint8)
    centre = (size // 2, size // 2)
    cv2.circle(plate, centre, int(radius + rim), (*colour(rng, 20, 160), 255), -1, cv2.LINE_AA)
    cv2.circle(plate, centre, int(radius), (*colour(rng, 170, 250), 255), -1, cv2.LINE_AA)
    cv2.circle(plate, centre, int(radius * 0.93), (*colour(rng, 30, 120), 255), 1, cv2.LINE_AA)
    patch, label = _counter_patch(rng, counter_width, int(rng.integers(5, 9)), counter)
    x = int(centre[0] - counter_width / 2)
    y = int(centre[1] - radius * rng.uniform(0.15, 0.5) - patch.shape[0] / 2)
    quad = _paste(plate, patch, x, y) if with_counter else None
    ink = colour(rng, 0, 70)
    digit_h = max(5, int(patch.shape[0] * rng.uniform(0.35, 0.9)))
    _serial(rng, plate, x + counter_width * rng.uniform(-0.1, 0.2), y + patch.shape[0] * 1.4, digit_h, ink)
    _codes(rng, plate, centre[0] - radius * 0.6, y - patch.shape[0] * 0.4, digit_h * 0.8, ink,
           int(rng.integers(0, 3)), upward=True)
    for i in range(int(rng.integers(0, 5))):
        angle = np.pi * (0.65 + 0.7 * i / 4)
        spot = (centre[0] + radius * 0.55 * np.sin(angle), centre[1] - radius * 0.55 * np.cos(angle))
        _pointer_dial(rng, plate, spot, radius * rng.uniform(0.09, 0.15))
    return Plate(plate, quad, label if with_counter else None)


def draw_gas_plate(rng: np.random.Generator, counter_width: float, with_counter: bool = True,
                   counter: CounterWindow | None = None) -> Plate:
    """A rectangular gas/water meter front: counter window, 'm3', codes, serial and a barcode."""
    patch, label = _counter_patch(rng, counter_width, int(rng.integers(5, 9)), counter)
    width = int(counter_width / rng.uniform(0.45, 0.8))
    height = max(int(width * rng.uniform(0.6, 1.1)), int(patch.shape[0] * 3) + 16)
    plate = np.zeros((height, width, 4), np.uint8)
    plate[:] = (*colour(rng, 20, 240), 255)
    face = colour(rng, 0, 256)
    x = int((width - counter_width) / 2 + rng.uniform(-0.1, 0.1) * (width - counter_width))
    y = int(8 + (height - patch.shape[0] - 16) * rng.uniform(0.1, 0.4))
    cv2.rectangle(plate, (x - 6, y - 6), (x + int(counter_width) + 6, y + patch.shape[0] + 6),
                  (*face, 255), -1)
    quad = _paste(plate, patch, x, y) if with_counter else None
    ink = (20, 20, 20) if np.mean(plate[0, 0, :3]) > 110 else (230, 230, 230)
    digit_h = max(5, int(patch.shape[0] * rng.uniform(0.3, 0.8)))
    cv2.putText(plate, "m3", (x + int(counter_width) + 10, y + patch.shape[0]), HERSHEY[0],
                digit_h / 20, ink, max(1, digit_h // 10), cv2.LINE_AA)
    _serial(rng, plate, x, y + patch.shape[0] * 1.6, digit_h, ink)
    _codes(rng, plate, width * 0.08, y + patch.shape[0] * 3.2, digit_h, ink, int(rng.integers(1, 4)))
    bar_y = int(height * 0.85)
    for bx in range(int(width * 0.1), int(width * 0.5), max(2, digit_h // 6)):
        if rng.random() < 0.6:
            plate[bar_y:bar_y + digit_h, bx:bx + max(1, digit_h // 10), :3] = ink
    return Plate(plate, quad, label if with_counter else None)


def _obis_code(rng, lcd: np.ndarray, room: int, top: int, small: int, ink) -> None:
    """The OBIS code ("1.8.0": which register is shown) in the `room` px left of the value, made
    smaller to fit: a real LCD gives it segments of its own. Drawn over the value's first digit
    (as scenes were rendered before), it cost whole photos: 9 of 15 wrong `accepted` readings in
    3,300 validation photos were LCD first digits under or beside the code."""
    obis = str(rng.choice(["1.8.0", "1.8.1", "2.8.0", "15.8.0", "0.9.1", "C.1.0"]))
    height = min(small, small * room / cv2.getTextSize(obis, HERSHEY[0], small / 22, 1)[0][0])
    if height >= 4:  # smaller, it is a smudge, not a code
        cv2.putText(lcd, obis, (2, top + small + 2), HERSHEY[0], height / 22, ink, max(1, int(height) // 8),
                    cv2.LINE_AA)


def draw_lcd_plate(rng: np.random.Generator, counter_width: float, with_counter: bool = True) -> Plate:
    """An electricity meter: LCD with the value, a small OBIS code before it and 'kWh' after."""
    panel, label = sample_lcd_counter(rng, int(rng.integers(5, 9)))
    height = max(6, round(panel.shape[0] * counter_width / panel.shape[1]))
    panel = cv2.resize(panel, (round(counter_width), height), interpolation=cv2.INTER_AREA)
    bg = np.median(panel[[0, -1]].reshape(-1, 3), axis=0)
    side = int(counter_width * rng.uniform(0.2, 0.4))
    lcd = np.zeros((int(height * rng.uniform(1.2, 1.6)), panel.shape[1] + 2 * side, 3), np.uint8)
    lcd[:] = bg.astype(np.uint8)
    top = (lcd.shape[0] - height) // 2
    if with_counter:
        lcd[top:top + height, side:side + panel.shape[1]] = panel
    ink = tuple(int(v) for v in bg * 0.25)
    small = max(5, int(height * 0.3))
    _obis_code(rng, lcd, side - 4, top, small, ink)
    cv2.putText(lcd, "kWh", (side + panel.shape[1] + 3, top + height - 3), HERSHEY[0],
                small / 20, ink, max(1, small // 8), cv2.LINE_AA)
    width, plate_h = int(lcd.shape[1] / rng.uniform(0.55, 0.85)), int(lcd.shape[0] * rng.uniform(4, 7))
    plate = np.zeros((plate_h, width, 4), np.uint8)
    plate[:] = (*colour(rng, 20, 235), 255)
    x, y = (width - lcd.shape[1]) // 2, int(plate_h * rng.uniform(0.1, 0.35))
    _paste(plate, lcd, x, y)
    quad = _paste(plate, lcd[top:top + height, side:side + panel.shape[1]], x + side, y + top)
    text_ink = (20, 20, 20) if np.mean(plate[0, 0, :3]) > 110 else (230, 230, 230)
    _serial(rng, plate, width * 0.1, y + lcd.shape[0] * 1.4, small * 2, text_ink)
    _codes(rng, plate, width * 0.1, y + lcd.shape[0] * 2.8, small * 1.5, text_ink, int(rng.integers(1, 4)))
    return Plate(plate, quad if with_counter else None, label if with_counter else None)

"""7-segment LCD/LED counters: slanted segments, unlit "ghost" segments, decimal points, legend
text above the digits (kWh, icons), reflective and backlit colour schemes. BGR uint8 out."""

from __future__ import annotations

import cv2
import numpy as np

MIN_DIGITS, MAX_DIGITS = 4, 10
SEGMENTS = {  # which of a..g are lit (a top, b top-right, c bottom-right, d bottom, e bottom-left, f top-left, g middle)
    0: "abcdef", 1: "bc", 2: "abged", 3: "abgcd", 4: "fgbc",
    5: "afgcd", 6: "afgedc", 7: "abc", 8: "abcdefg", 9: "abcdfg",
}
VARIANTS = {6: ("fgedc", "afgedc"), 7: ("abc", "abcf"), 9: ("abcfg", "abcdfg")}
# (background, lit, ghost-mix): ghost colour = background blended towards lit by ghost-mix
SCHEMES = (
    ((170, 185, 175), (40, 50, 45), (0.04, 0.18)),  # grey-green reflective
    ((200, 205, 200), (30, 30, 30), (0.03, 0.15)),
    ((150, 170, 160), (60, 70, 65), (0.05, 0.25)),  # low contrast, like the PHCN meter
    ((165, 180, 170), (55, 65, 60), (0.15, 0.38)),  # strong ghosts: an unlit 8 behind every digit
    ((30, 25, 20), (80, 230, 160), (0.05, 0.2)),  # backlit, bright segments
    ((20, 20, 20), (60, 60, 240), (0.04, 0.15)),  # red LED
    ((230, 160, 60), (40, 20, 10), (0.05, 0.2)),  # blue backlight
)


def _segment_polygons(x: float, y: float, w: float, h: float, t: float) -> dict[str, np.ndarray]:
    """Hexagonal bars of thickness t for one digit cell whose box is (x, y, w, h)."""
    def horizontal(cy):
        return np.array([[x + t * 0.5, cy], [x + t, cy - t / 2], [x + w - t, cy - t / 2],
                         [x + w - t * 0.5, cy], [x + w - t, cy + t / 2], [x + t, cy + t / 2]])

    def vertical(cx, y0, y1):
        return np.array([[cx, y0 + t * 0.5], [cx + t / 2, y0 + t], [cx + t / 2, y1 - t],
                         [cx, y1 - t * 0.5], [cx - t / 2, y1 - t], [cx - t / 2, y0 + t]])

    mid = y + h / 2
    return {
        "a": horizontal(y + t / 2), "g": horizontal(mid), "d": horizontal(y + h - t / 2),
        "f": vertical(x + t / 2, y, mid), "b": vertical(x + w - t / 2, y, mid),
        "e": vertical(x + t / 2, mid, y + h), "c": vertical(x + w - t / 2, mid, y + h),
    }


def _lit_segments(rng, digit: int) -> str:
    if digit in VARIANTS and rng.random() < 0.3:
        return VARIANTS[digit][rng.integers(0, 2)] if digit != 9 else VARIANTS[9][0]
    return SEGMENTS[digit]


def render_lcd(rng: np.random.Generator, digits: list[int]) -> np.ndarray:
    """Digits -> (H,W,3) uint8 BGR 7-segment display, drawn 4x oversampled then reduced."""
    scale = 4
    n = len(digits)
    digit_h = int(rng.integers(22, 48))
    digit_w = digit_h * rng.uniform(0.42, 0.62)
    pitch = digit_w * rng.uniform(1.15, 1.5)
    thickness = max(1.5, digit_h * rng.uniform(0.06, 0.16))  # thin segments on meter LCDs
    slant = rng.uniform(0.0, 0.22) if rng.random() < 0.7 else 0.0
    legend = int(digit_h * rng.uniform(0.3, 0.6)) if rng.random() < 0.5 else 0
    margin_x, margin_y = pitch * rng.uniform(0.05, 1.0), digit_h * rng.uniform(0.1, 0.35)
    width = int(2 * margin_x + n * pitch + slant * digit_h)
    height = int(digit_h + 2 * margin_y + legend)
    bg, lit, ghost_mix = SCHEMES[rng.integers(0, len(SCHEMES))]
    bg = np.clip(np.array(bg) + rng.integers(-20, 21, 3), 0, 255)
    lit = np.clip(np.array(lit) + rng.integers(-20, 21, 3), 0, 255)
    ghost = bg + (lit - bg) * rng.uniform(*ghost_mix)
    canvas = np.empty((height * scale, width * scale, 3), np.uint8)
    canvas[:] = bg
    top = margin_y + legend
    shear = np.array([[1, -slant], [0, 1]])
    for i, digit in enumerate(digits):
        x = margin_x + i * pitch + slant * digit_h
        lit_set = _lit_segments(rng, digit)
        for name, poly in _segment_polygons(x, top, digit_w, digit_h, thickness).items():
            poly = (poly - [0, top + digit_h]) @ shear.T + [0, top + digit_h]
            colour = lit if name in lit_set else ghost
            cv2.fillPoly(canvas, [np.round(poly * scale).astype(np.int32)], colour.tolist(), cv2.LINE_AA)
        if rng.random() < 0.12 and i < n - 1:  # decimal point after this digit
            centre = (int((x + digit_w + (pitch - digit_w) / 2) * scale), int((top + digit_h - thickness / 2) * scale))
            cv2.circle(canvas, centre, int(thickness * 0.6 * scale), lit.tolist(), -1, cv2.LINE_AA)
    if legend:
        _draw_legend(rng, canvas, legend * scale, lit, bg)
    image = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    return _panel_shading(rng, image) if rng.random() < 0.5 else image


def _panel_shading(rng, image: np.ndarray) -> np.ndarray:
    """Behind glass: light falls off towards the panel's edges (vignetting)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    falloff = 1 - rng.uniform(0.2, 0.6) * (np.abs(xx) ** 4 + np.abs(yy) ** 4) / 2
    return np.clip(image * falloff[:, :, None], 0, 255).astype(np.uint8)


def _draw_legend(rng, canvas: np.ndarray, legend_h: int, lit, bg) -> None:
    """Small unit text and icons above the digits, faint like printed LCD legends."""
    colour = (bg + (lit - bg) * rng.uniform(0.3, 0.9)).tolist()
    font_scale = legend_h / 40.0
    words = ("kWh", "CONS", "kW", "m3", "TOTAL", "1", "2", "T1", "CREDIT", "A")
    for _ in range(int(rng.integers(1, 4))):
        x = int(rng.uniform(0, 0.85) * canvas.shape[1])
        cv2.putText(canvas, str(rng.choice(words)), (x, int(legend_h * 0.8)), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, colour, max(1, int(font_scale * 2)), cv2.LINE_AA)


def sample_lcd_counter(rng: np.random.Generator, n_digits: int | None = None) -> tuple[np.ndarray, str]:
    """A random LCD counter: ((H,W,3) uint8 BGR, label digits). Digits uniform per position."""
    digits = sample_lcd_digits(rng, int(n_digits or rng.integers(MIN_DIGITS, MAX_DIGITS + 1)))
    return render_lcd(rng, digits), "".join(map(str, digits))


def sample_lcd_digits(rng: np.random.Generator, n: int) -> list[int]:
    """n digits, uniform per position, with leading zeros on a share of displays."""
    digits = rng.integers(0, 10, n)
    if rng.random() < 0.3:
        digits[: rng.integers(1, n)] = 0
    return [int(d) for d in digits]

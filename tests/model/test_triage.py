"""Triage on synthetic black, blank, overexposed and blurred photos (unit tier)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model.triage import triage


def _scene(width=640, height=480, seed=0) -> np.ndarray:
    """A sharp, ordinary photo: shapes and text on a textured background."""
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(60, 200, (12, 16, 3), dtype=np.uint8), (width, height))
    for _ in range(12):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, int(rng.integers(10, 80)), rng.integers(0, 255, 3).tolist(), 3)
    cv2.putText(image, "01234", (width // 4, height // 2), cv2.FONT_HERSHEY_SIMPLEX,
                width / 300, (20, 20, 20), max(1, width // 200))
    return image


@pytest.mark.parametrize("size", [(640, 480), (4000, 3000), (480, 640)])
def test_ordinary_photo_passes(size):
    assert triage(_scene(*size)) is None


def test_black_photo():
    noise = np.random.default_rng(1).integers(0, 8, (480, 640, 3), dtype=np.uint8)
    assert triage(noise) == "too dark"


def test_dark_photo_with_lit_display_passes():
    image = np.random.default_rng(2).integers(0, 6, (480, 640, 3), dtype=np.uint8)
    cv2.rectangle(image, (200, 200), (440, 260), (40, 200, 60), -1)  # a backlit LCD at night
    cv2.putText(image, "123456", (210, 250), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (10, 40, 10), 3)
    assert triage(image) is None


def test_blank_wall():
    image = np.full((480, 640, 3), 170, np.uint8)
    image += np.random.default_rng(3).integers(0, 3, image.shape, dtype=np.uint8)
    assert triage(image) == "blank image"


def test_overexposed():
    image = _scene()
    image[:, :] = np.maximum(image, 252)
    image[:40, :40] = 0  # a little structure is left, but almost everything is clipped
    assert triage(image) == "overexposed"


def test_heavily_blurred():
    assert triage(cv2.GaussianBlur(_scene(), (0, 0), 12)) == "too blurred"


def test_mild_blur_still_passes():
    assert triage(cv2.GaussianBlur(_scene(), (0, 0), 1.0)) is None


def test_grey_input_accepted():
    assert triage(cv2.cvtColor(_scene(), cv2.COLOR_BGR2GRAY)) is None


def test_blank_wall_with_lighting_gradient_and_noise():
    rng = np.random.default_rng(4)
    ramp = np.linspace(60, 140, 640)[None, :] + np.linspace(0, 30, 480)[:, None]
    image = np.clip(ramp + rng.normal(0, 3, (480, 640)), 0, 255).astype(np.uint8)
    assert triage(np.dstack([image] * 3)) == "blank image"


def test_rendered_meter_scenes_pass_and_empty_scenes_do_not():
    from model.synth.scenes import render_scene

    for seed in range(6):
        for kind in ("water", "gas", "lcd"):
            assert triage(render_scene(np.random.default_rng(seed), 640, 480, kind=kind).image) is None
        for kind in ("blank", "dark"):
            assert triage(render_scene(np.random.default_rng(seed), 640, 480, kind=kind).image) is not None

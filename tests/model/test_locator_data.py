"""Locator training data: second-pass views are what model.locate's second look sees (unit tier)."""

from __future__ import annotations

import numpy as np

from model.locate import REFINE_FRACTION, zoom_square
from model.locator_targets import quad_geometry
from model.synth.scenes import render_scene
from model.train_locator import _first_pass_guess, _in_view, render_zoomed_example


def test_zoomed_views_show_the_window_at_the_second_pass_scale():
    shares, negatives = [], 0
    for index in range(24):
        square, quad = render_zoomed_example((5, index, 192))
        assert square.shape == (192, 192) and square.dtype == np.uint8
        if np.isnan(quad).any():
            negatives += 1
            continue
        _, length, height, _ = quad_geometry(quad)
        shares.append(length / 192)
    # the window fills about REFINE_FRACTION of the view, spread by the first pass's size errors
    assert abs(np.median(shares) - REFINE_FRACTION) < 0.08
    assert 0 < negatives < 12  # some views show no counter, so the second look learns to reject


def test_view_quad_maps_back_onto_the_photo_window():
    scene = render_scene(np.random.default_rng(3), 1024, 768, kind="gas")
    centre, side = _first_pass_guess(np.random.default_rng(4), scene.quad)
    _, view = zoom_square(scene.image, centre, side, 192)
    assert np.allclose(view.to_image(_in_view(scene.quad, view)), scene.quad, atol=1e-2)

"""Locator training data: second-pass views are what model.locate's second look sees (unit tier)."""

from __future__ import annotations

import numpy as np
import pytest

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
        _, length, _, _ = quad_geometry(quad)
        shares.append(length / 192)
    # the window fills about REFINE_FRACTION of the view, spread by the first pass's size errors
    assert abs(np.median(shares) - REFINE_FRACTION) < 0.08
    assert 0 < negatives < 12  # some views show no counter, so the second look learns to reject


def test_view_quad_maps_back_onto_the_photo_window():
    scene = render_scene(np.random.default_rng(3), 1024, 768, kind="gas")
    centre, side = _first_pass_guess(np.random.default_rng(4), scene.quad)
    _, view = zoom_square(scene.image, centre, side, 192)
    assert np.allclose(view.to_image(_in_view(scene.quad, view)), scene.quad, atol=1e-2)


@pytest.mark.model  # model.locator_training imports TensorFlow
def test_a_view_turned_upside_down_keeps_its_window_and_reverses_the_reading_direction():
    from model.locator_training import turned_upside_down

    images = np.random.default_rng(0).integers(0, 256, (3, 192, 192), dtype=np.uint8)
    quad = np.array([[40, 80], [150, 70], [152, 100], [42, 110]], np.float32)
    quads = np.stack([quad, quad, np.full((4, 2), np.nan, np.float32)])
    turned, turned_quads = turned_upside_down(images, quads, np.array([True, False, True]))
    assert np.array_equal(turned[0], images[0][::-1, ::-1]) and np.array_equal(turned[1], images[1])
    assert np.array_equal(turned_quads[1], quad) and np.isnan(turned_quads[2]).all()
    centre, length, height, angle = quad_geometry(quad)
    centre2, length2, height2, angle2 = quad_geometry(turned_quads[0])
    assert np.allclose(centre2, 192 - centre) and np.isclose(length2, length) and np.isclose(height2, height)
    assert np.isclose(abs(np.angle(np.exp(1j * (angle2 - angle)))), np.pi)  # read the other way round
    assert images[0, 0, 0] == turned[0, -1, -1]  # the input was left as it was


def test_scenes_render_as_before_without_real_digits():
    # _drum_counters draws from the scene's generator only when --real-digits is given, so a run
    # folder's cached scenes and a rerender without it stay the same photos
    import model.train_locator as train_locator

    assert train_locator._real_counters is None
    first, again = render_zoomed_example((7, 3, 192)), render_zoomed_example((7, 3, 192))
    rng = np.random.default_rng(0)
    assert train_locator._drum_counters(rng) is None
    assert rng.random() == np.random.default_rng(0).random()  # nothing drawn
    assert np.array_equal(first[0], again[0])


@pytest.mark.data
def test_real_digit_scenes_put_real_counters_in_drum_windows(monkeypatch):
    from model.real_digits import DEFAULT_DATA_DIR

    if not (DEFAULT_DATA_DIR / "haverland_digits").is_dir():
        pytest.skip("no ../shared/data/haverland_digits")
    import model.train_locator as train_locator

    train_locator._use_real_digits(DEFAULT_DATA_DIR, 1.0)
    try:
        counters = train_locator._real_counters
        assert counters is not None and counters.augment is False
        image, label = counters(np.random.default_rng(1))
        assert 5 <= len(label) <= 8 and image.ndim in (2, 3)
        assert train_locator._drum_counters(np.random.default_rng(2)) is counters  # share 1.0: every scene
        monkeypatch.setattr(train_locator, "_real_share", 0.0)
        assert train_locator._drum_counters(np.random.default_rng(2)) is None
    finally:
        monkeypatch.setattr(train_locator, "_real_counters", None)
        monkeypatch.setattr(train_locator, "_real_share", 0.0)


@pytest.mark.data
@pytest.mark.model  # model.locator_training imports TensorFlow
def test_plain_scenes_join_the_real_digit_ones(tmp_path):
    from types import SimpleNamespace

    from model.locator_training import _describe_sets, _training_sets
    from model.real_digits import DEFAULT_DATA_DIR
    from model.train_locator import TRAIN_SEED, rendered_set

    if not (DEFAULT_DATA_DIR / "haverland_digits").is_dir():
        pytest.skip("no ../shared/data/haverland_digits")
    args = SimpleNamespace(run_dir=tmp_path, input_size=64, workers=1, real_digits=DEFAULT_DATA_DIR, real_share=1.0,
                           scenes=2, zoomed_scenes=0, plain_scenes=3, plain_zoomed_scenes=0)
    sets = _training_sets(args)
    assert list(sets) == ["scenes"]
    images, quads = sets["scenes"]
    assert images.shape == (5, 64, 64) and quads.shape == (5, 4, 2)
    assert sorted(path.name.split("-seed")[0] for path in tmp_path.glob("*.npz")) == ["scenes", "scenes-real1"]
    # the joined plain scenes are the very ones a run without --real-digits renders
    (tmp_path / "plain").mkdir()
    plain, _ = rendered_set(tmp_path / "plain", TRAIN_SEED, 3, 64, 1)
    assert np.array_equal(images[2:], plain)
    # and the export's metadata says what the phase was trained on
    described = _describe_sets(args)
    assert "3 rendered whole-photo scenes;" in described
    assert "2 scenes with 1 of the water and gas windows showing counters of real training-split" in described


def test_an_exported_locator_names_its_version_and_what_it_was_trained_on():
    from model.locator_training import locator_metadata

    state = {"step": 6000, "best": {"step": 4500, "iou50": 0.9, "false_finds": 0.2},
             "trained_on": "model.synth.scenes (seed 1): 5 rendered whole-photo scenes",
             "started_from": "runs/locator3/best.weights.h5"}
    default = locator_metadata(64, state)
    assert default["version"].startswith("locator-") and default["version"].endswith("-s4500-after-locator3")
    assert default["trained_on"] == ("model.synth.scenes (seed 1): 5 rendered whole-photo scenes; "
                                     "this phase started from runs/locator3/best.weights.h5")
    assert locator_metadata(64, state, version="locator-real-digits")["version"] == "locator-real-digits"

"""The shared training/serving preprocessing: shapes, range, aspect ratio, colour handling."""

import numpy as np
import pytest

from model.normalise import fit_to_canvas, to_reader_input, uint8_percentiles


def test_batch_shape_dtype_and_range():
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (44, 123, 3), dtype=np.uint8), rng.integers(0, 256, (20, 300), dtype=np.uint8),
             rng.integers(0, 256, (64, 40, 1), dtype=np.uint8)]
    batch = to_reader_input(crops, 32, 128)
    assert batch.shape == (3, 32, 128, 1) and batch.dtype == np.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0


def test_aspect_ratio_kept_and_padded_with_border_colour():
    crop = np.full((40, 80), 200, np.uint8)
    crop[10:30, 10:20] = 10  # a dark "digit" near the left
    canvas = fit_to_canvas(crop, 32, 128)
    assert canvas.shape == (32, 128)
    assert (canvas[:, 70:] == 200).all()  # 80 px * 32/40 = 64 px of crop, then border-colour padding
    assert canvas[:, 8:16].min() < 50


def test_wide_crops_are_squeezed_to_width():
    assert fit_to_canvas(np.zeros((10, 500), np.uint8), 32, 128).shape == (32, 128)


def test_contrast_is_stretched_per_crop():
    crop = np.full((32, 128), 120, np.uint8)
    crop[:, 60:70] = 140  # faint digit stroke, 20 grey levels of contrast
    out = to_reader_input([crop])[0, :, :, 0]
    assert out.min() == pytest.approx(0.0) and out.max() == pytest.approx(1.0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        to_reader_input([np.zeros((10, 10), np.float32)])
    with pytest.raises(ValueError):
        to_reader_input([np.zeros((10, 10, 2), np.uint8)])


def test_uint8_percentiles_equal_numpys_linear_percentiles():
    rng = np.random.default_rng(7)
    for _ in range(300):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 140)))
        gray = rng.integers(0, int(rng.integers(1, 257)), shape).astype(np.uint8)
        assert uint8_percentiles(gray, (1.0, 50.0, 99.0)) == pytest.approx(np.percentile(gray, (1.0, 50.0, 99.0)))

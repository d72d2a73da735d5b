"""Wiring with a tiny untrained reader SavedModel: the signature, metadata and crop path contract."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from model.export import export_untrained
    from model.runtime import load_models

    model_dir = tmp_path_factory.mktemp("models")
    export_untrained(model_dir / "reader")
    return load_models(model_dir)


def test_signature_shapes_and_dtype(tiny_models):
    reader = tiny_models.reader
    height, width = reader.input_size
    probs = reader.predict(np.random.default_rng(0).random((70, height, width, 1), dtype=np.float32))
    assert probs.dtype == np.float32
    assert probs.shape == (70, width // 4, len(reader.alphabet) + 1)  # 70 > batch of 64: chunked
    assert np.allclose(probs.sum(axis=-1), 1.0, atol=1e-4)
    assert reader.predict(np.zeros((0, height, width, 1), np.float32)).shape == (0, width // 4, 11)


def test_wrong_input_shape_is_refused(tiny_models):
    with pytest.raises(ValueError):
        tiny_models.reader.predict(np.zeros((2, 16, 16, 1), np.float32))


def test_metadata_round_trip(tiny_models):
    on_disk = json.loads((tiny_models.reader.path / "metadata.json").read_text())
    assert on_disk == tiny_models.reader.metadata
    assert on_disk["alphabet"] == "0123456789" and on_disk["blank_index"] == 10
    assert (on_disk["input_height"], on_disk["input_width"], on_disk["input_channels"]) == (32, 128, 1)
    assert tiny_models.version == on_disk["version"]
    assert tiny_models.locator is None


def test_read_crops_returns_one_reading_per_crop(tiny_models):
    from model.read_crops import read_crops
    from model.reading import Status

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (40, 150, 3), dtype=np.uint8), rng.integers(0, 256, (30, 90), dtype=np.uint8),
             np.zeros((2, 2, 3), np.uint8)]
    readings = read_crops(crops, tiny_models, digits=6)
    assert len(readings) == 3
    for reading in readings[:2]:
        assert reading.model_version == "untrained-tiny"
        assert reading.status in (Status.ACCEPTED, Status.REVIEW)
        assert reading.reading is not None and len(reading.reading) == 6  # constrained to 6 digits
        assert len(reading.digits) == 6
    assert readings[2].status is Status.UNREADABLE and "too small" in readings[2].reason
    assert read_crops([], tiny_models) == []


def test_a_counter_too_small_to_trust_goes_to_review(tiny_models, monkeypatch):
    """Every reading of this untrained reader would be accepted at threshold 0; below
    MIN_TRUSTED_HEIGHT it goes to review, its reading kept."""
    from model import read_crops as crop_path
    from model.reading import Status

    monkeypatch.setitem(tiny_models.reader.metadata, "threshold", 0.0)
    rng = np.random.default_rng(1)
    low = crop_path.MIN_TRUSTED_HEIGHT
    big, small = (rng.integers(0, 256, (h, 5 * h), dtype=np.uint8) for h in (low, low - 1))
    tall_enough, too_small = crop_path.read_crops([big, small], tiny_models, digits=5)
    assert tall_enough.status is Status.ACCEPTED
    assert too_small.status is Status.REVIEW and too_small.reading is not None
    assert f"{low - 1} px high" in too_small.reason

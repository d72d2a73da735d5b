"""Golden checks with the shipped reader: clean synthetic counters from fixed seeds, and the
11 real PHCN LCD crops (data marker: skipped without ../shared/data)."""

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.model

SHIPPED = Path(__file__).resolve().parents[2] / "model" / "shipped"
PHCN = Path(__file__).resolve().parents[3] / "shared" / "data" / "phcn_lcd_crops"


@pytest.fixture(scope="module")
def shipped():
    from model.runtime import load_models

    return load_models(SHIPPED)


def clean_counters(count: int, seed: int):
    from model.synth.counters import sample_drum_counter
    from model.synth.lcd import sample_lcd_counter

    rng = np.random.default_rng(seed)
    return [(sample_drum_counter if i % 2 else sample_lcd_counter)(rng) for i in range(count)]


def test_shipped_metadata_is_complete(shipped):
    meta = shipped.reader.metadata
    for key in ("version", "alphabet", "blank_index", "input_height", "input_width", "threshold",
                "metrics", "trained_on"):
        assert key in meta
    assert 0.0 < meta["threshold"] <= 1.0
    assert meta["metrics"]["calibration"]["risk"] <= 0.005


def test_clean_synthetic_counters_read_right(shipped):
    from model.read_crops import read_crops

    items = clean_counters(20, seed=31337)
    readings = read_crops([image for image, _ in items], shipped)
    wrong = [(label, r.reading) for (_, label), r in zip(items, readings) if r.reading != label]
    assert not wrong
    assert sum(r.status.value == "accepted" for r in readings) >= 16

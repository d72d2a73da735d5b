"""Scene renderer: the counter box it reports is where the counter really is (unit tier)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from model.image_io import decode_image
from model.locator_targets import quad_geometry
from model.rectify import rectify
from model.samples import write_samples
from model.synth import scenes
from model.synth.plates import Plate, draw_gas_plate, draw_water_plate
from model.synth.scenes import METER_KINDS, NEGATIVE_KINDS, render_scene

BLUE, RED = (255, 0, 0), (0, 0, 255)


def _two_tone_plate() -> Plate:
    """A plate whose 'counter' is blue on its first half and red on its second."""
    plate = np.zeros((300, 400, 4), np.uint8)
    plate[:] = (128, 128, 128, 255)
    plate[100:140, 80:200, :3] = BLUE
    plate[100:140, 200:320, :3] = RED
    quad = np.array([[80, 100], [320, 100], [320, 140], [80, 140]], np.float32)
    return Plate(plate, quad, "42")


@pytest.mark.parametrize("seed", range(12))
def test_transformed_quad_covers_the_counter_in_reading_order(seed):
    rng = np.random.default_rng(seed)
    plate = _two_tone_plate()
    matrix = scenes._placement(rng, plate, 640, 480, max_rotation=90.0)
    image = scenes._composite(scenes.background(rng, 640, 480), plate.image, matrix)
    quad = scenes._transform(plate.quad, matrix)
    crop = rectify(image, quad, margin_x=0.0, margin_y=0.0).astype(int)
    first, second = crop[:, 2:crop.shape[1] // 2 - 2], crop[:, crop.shape[1] // 2 + 2:-2]
    assert np.abs(first[2:-2] - BLUE).mean() < 25  # the first half of the window comes first
    assert np.abs(second[2:-2] - RED).mean() < 25


@pytest.mark.parametrize("kind", METER_KINDS)
def test_meter_scenes_have_a_label_and_a_box_inside_the_photo(kind):
    for seed in range(5):
        scene = render_scene(np.random.default_rng(seed), 640, 480, kind=kind)
        assert scene.image.shape == (480, 640, 3) and scene.image.dtype == np.uint8
        assert scene.label and scene.label.isdigit() and 4 <= len(scene.label) <= 10
        assert scene.quad.shape == (4, 2)
        assert (scene.quad >= -1).all() and (scene.quad[:, 0] <= 641).all() and (scene.quad[:, 1] <= 481).all()
        _, length, height, _ = quad_geometry(scene.quad)
        assert 0.1 * 640 < length < 0.5 * 640 and height < length


def test_counter_width_and_rotation_ranges():
    lengths, angles = [], []
    for seed in range(60):
        scene = render_scene(np.random.default_rng(seed), 640, 480, kind="water", max_rotation=90)
        _, length, _, angle = quad_geometry(scene.quad)
        lengths.append(length / 640)
        angles.append(np.degrees(angle))
    assert 0.1 <= min(lengths) and max(lengths) <= 0.45
    assert max(np.abs(angles)) <= 91 and max(np.abs(angles)) > 30  # some are turned a lot


@pytest.mark.parametrize("draw", [draw_water_plate, draw_gas_plate])
def test_nothing_is_printed_over_the_counter_window(draw):
    """Serials and model codes sit around the window, never on it: a plain grey counter passed
    in must come out of the plate untouched."""
    for seed in range(40):
        grey = np.full((40, 200, 3), 97, np.uint8)
        plate = draw(np.random.default_rng(seed), 160.0, counter=(grey, "123456"))
        (x0, y0), (x1, y1) = plate.quad[0].astype(int), plate.quad[2].astype(int)
        assert plate.label == "123456"
        assert (plate.image[y0:y1, x0:x1, :3] == 97).all(), f"seed {seed}: something drawn over the window"


def test_scenes_can_show_counters_drawn_elsewhere():
    counter = (np.full((30, 150, 3), 200, np.uint8), "0042")
    scene = render_scene(np.random.default_rng(4), 640, 480, kind="gas", drum_counters=lambda rng: counter)
    lcd = render_scene(np.random.default_rng(4), 640, 480, kind="lcd", drum_counters=lambda rng: counter)
    assert scene.label == "0042" and lcd.label != "0042"  # LCD meters keep their rendered display


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_negative_scenes_have_no_counter(kind):
    scene = render_scene(np.random.default_rng(3), 320, 240, kind=kind)
    assert scene.label is None and scene.quad is None and scene.image.shape == (240, 320, 3)


def test_render_is_deterministic_per_seed():
    a = render_scene(np.random.default_rng(9), 320, 240)
    b = render_scene(np.random.default_rng(9), 320, 240)
    assert a.label == b.label and np.array_equal(a.image, b.image) and np.array_equal(a.quad, b.quad)


def test_write_samples(tmp_path):
    labels_path = write_samples(tmp_path / "out", 4, seed=5, negatives=0.0)
    with labels_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["path"] for r in rows] == [f"photo-{i:04d}.jpg" for i in range(4)]
    for row in rows:
        assert row["label"].isdigit()
        data = (tmp_path / "out" / row["path"]).read_bytes()
        assert decode_image(data, max_bytes=50_000_000, max_pixels=50_000_000).ndim == 3
    again = write_samples(tmp_path / "again", 4, seed=5)
    assert again.read_text() == labels_path.read_text()


def test_write_samples_negatives_have_empty_labels(tmp_path):
    labels_path = write_samples(tmp_path, 6, seed=1, negatives=1.0)
    with labels_path.open() as handle:
        assert all(row["label"] == "" for row in csv.DictReader(handle))

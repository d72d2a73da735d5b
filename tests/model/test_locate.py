"""Locator maps -> oriented boxes in photo pixels; letterboxing; rectification (unit tier).

The maps here are built by the same encoder training uses (`encode_targets`), i.e. what a
perfect locator would output; the learned model itself is exercised in test_pipeline*.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.locate import CounterBox, letterbox_grey, locate_counters
from model.locator_targets import MAP_CHANNELS, decode_maps, encode_targets, quad_iou
from model.rectify import expand_quad, rectify, rotate_quad_180


def _quad(centre, length, height, degrees) -> np.ndarray:
    angle = np.radians(degrees)
    forward = np.array([np.cos(angle), np.sin(angle)])
    down = np.array([-forward[1], forward[0]])
    c = np.asarray(centre, float)
    return np.array([c - forward * length / 2 - down * height / 2, c + forward * length / 2 - down * height / 2,
                     c + forward * length / 2 + down * height / 2, c - forward * length / 2 + down * height / 2],
                    np.float32)


class PerfectLocator:
    """Returns the maps a perfect locator would give for known photo quads (photo pixels)."""

    metadata = {"input_size": 192, "score_threshold": 0.5, "min_score": 0.55}

    def __init__(self, quads):
        self.quads = quads
        self.images = None

    def bind(self, images):
        self.images = images
        return self

    def predict_outputs(self, batch):
        maps = []
        for image, quad in zip(self.images, self.quads):
            _, box = letterbox_grey(image, 192)
            q = None if quad is None else quad * box.scale + [box.offset_x, box.offset_y]
            maps.append(encode_targets(q, 192))
        return {"maps": np.stack(maps)}


@pytest.mark.parametrize("degrees", [-170, -90, -45, -10, 0, 30, 89, 135, 180])
def test_decode_round_trip_any_rotation(degrees):
    quad = _quad((96, 90), 70, 14, degrees)
    quad_out, score, orientation = decode_maps(encode_targets(quad, 192))
    assert np.abs(quad_out - quad).max() < 1e-3  # same corners, same reading order
    assert score == 1.0 and orientation == pytest.approx(1.0)


def test_no_blob_means_no_counter():
    assert decode_maps(np.zeros((48, 48, MAP_CHANNELS), np.float32)) is None


def test_strongest_blob_wins_over_a_weaker_one():
    counter, serial = _quad((60, 50), 60, 14, 0), _quad((120, 150), 50, 10, 0)
    maps = encode_targets(counter, 192)
    weak = encode_targets(serial, 192)
    weak[..., 0] *= 0.6
    maps = np.where(weak[..., :1] > 0, weak, maps)
    quad, _, _ = decode_maps(maps)
    assert quad_iou(quad, counter) > 0.95


def test_disagreeing_direction_votes_lower_orientation_confidence():
    maps = encode_targets(_quad((96, 96), 80, 16, 90), 192)
    inside = maps[..., 0] > 0
    maps[inside, 7:9] *= 0.1  # votes for "which way round" nearly cancel
    assert decode_maps(maps)[2] < 0.2


@pytest.mark.parametrize("shape", [(480, 640), (3000, 4000), (640, 480), (300, 300)])
def test_letterbox_maps_back_to_photo_pixels(shape):
    image = np.zeros((*shape, 3), np.uint8)
    square, box = letterbox_grey(image, 192)
    assert square.shape == (192, 192)
    corners = np.array([[0, 0], [shape[1], shape[0]]], np.float32)
    inside = corners * box.scale + [box.offset_x, box.offset_y]
    assert np.allclose(box.to_image(inside), corners, atol=1e-3)
    assert inside.min() >= 0 and inside.max() <= 192 + 1e-3


def test_locate_counters_boxes_are_in_photo_pixels():
    images = [np.full((480, 640, 3), 90, np.uint8), np.full((3000, 4000, 3), 90, np.uint8),
              np.full((480, 640, 3), 90, np.uint8)]
    quads = [_quad((300, 200), 200, 40, 20), _quad((2000, 1500), 1200, 250, -70), None]
    boxes = locate_counters(images, PerfectLocator(quads).bind(images))
    assert isinstance(boxes[0], CounterBox) and boxes[2] is None
    for box, quad in zip(boxes[:2], quads[:2]):
        assert quad_iou(box.quad, quad) > 0.97
        assert np.linalg.norm(box.quad[0] - quad[0]) < 0.02 * np.linalg.norm(quad[1] - quad[0])


def test_rectify_straightens_a_rotated_window():
    image = np.full((480, 640, 3), 200, np.uint8)
    quad = _quad((320, 240), 240, 48, 35)
    import cv2
    first_half = np.array([quad[0], (quad[0] + quad[1]) / 2, (quad[3] + quad[2]) / 2, quad[3]])
    cv2.fillPoly(image, [np.round(quad).astype(np.int32)], (0, 0, 255))
    cv2.fillPoly(image, [np.round(first_half).astype(np.int32)], (255, 0, 0))
    crop = rectify(image, quad, margin_x=0, margin_y=0, crop_height=48)
    assert crop.shape[0] == 48 and abs(crop.shape[1] - 240) <= 2
    assert crop[24, 10].tolist() == [255, 0, 0] and crop[24, -10].tolist() == [0, 0, 255]
    upside_down = rectify(image, rotate_quad_180(quad), margin_x=0, margin_y=0, crop_height=48)
    assert upside_down[24, 10].tolist() == [0, 0, 255]


def test_expand_quad_grows_each_side():
    quad = _quad((0, 0), 100, 20, 0)
    grown = expand_quad(quad, 0.1, 0.25)
    assert np.allclose(grown, _quad((0, 0), 120, 30, 0), atol=1e-4)

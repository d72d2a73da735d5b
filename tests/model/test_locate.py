"""Locator maps -> oriented boxes in photo pixels; letterboxing; rectification (unit tier).

The maps here are built by the same encoder training uses (`encode_targets`), i.e. what a
perfect locator would output (PaintedLocator derives them from windows painted into the photo,
so both of locate_counters' passes see real views); the learned model is exercised in
test_pipeline*.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model.locate import CounterBox, letterbox_grey, locate_counters, search_tiles
from model.locator_targets import MAP_CHANNELS, decode_candidates, decode_maps, encode_targets, quad_iou
from model.rectify import expand_quad, rectify, rotate_quad_180


def _quad(centre, length, height, degrees) -> np.ndarray:
    angle = np.radians(degrees)
    forward = np.array([np.cos(angle), np.sin(angle)])
    down = np.array([-forward[1], forward[0]])
    c = np.asarray(centre, float)
    return np.array([c - forward * length / 2 - down * height / 2, c + forward * length / 2 - down * height / 2,
                     c + forward * length / 2 + down * height / 2, c - forward * length / 2 + down * height / 2],
                    np.float32)


class PaintedLocator:
    """A stand-in locator that sees windows painted into the photo: first half white (255),
    second half light grey (180), on a dark photo. It answers with the maps a perfect locator
    would give for what it sees, through the real encoder, whatever view it is shown; like the
    learned one, it misses windows shorter than `min_length` px in its view."""

    metadata = {"input_size": 192, "score_threshold": 0.5, "min_score": 0.55}

    def __init__(self, min_length: float = 0.0):
        self.min_length = min_length

    def predict_outputs(self, batch):
        return {"maps": np.stack([self._maps(square[..., 0] * 255) for square in batch])}

    def _maps(self, grey):
        first, second = grey > 230, (grey > 150) & (grey < 210)
        if first.sum() < 4 or second.sum() < 4:
            return encode_targets(None, 192)
        points = np.argwhere(first | second)[:, ::-1].astype(np.float32)
        corners = cv2.boxPoints(cv2.minAreaRect(points))
        centre = points.mean(0)
        forward = np.argwhere(second)[:, ::-1].mean(0) - np.argwhere(first)[:, ::-1].mean(0)
        # reading order: top-left is the corner furthest "back" and "up" from the centre
        rel = corners - centre
        down = np.array([-forward[1], forward[0]])
        order = [np.argmin(rel @ forward + rel @ down), np.argmax(rel @ forward - rel @ down),
                 np.argmax(rel @ forward + rel @ down), np.argmin(rel @ forward - rel @ down)]
        quad = corners[order] + np.sign(corners[order] - centre) * 0.5  # pixel centres -> edges
        too_short = np.linalg.norm(quad[1] - quad[0]) < self.min_length
        return encode_targets(None if too_short else quad, 192)


def _paint(image, quad):
    first_half = np.array([quad[0], (quad[0] + quad[1]) / 2, (quad[3] + quad[2]) / 2, quad[3]])
    cv2.fillPoly(image, [np.round(quad).astype(np.int32)], (180, 180, 180))
    cv2.fillPoly(image, [np.round(first_half).astype(np.int32)], (255, 255, 255))


@pytest.mark.parametrize("degrees", [-170, -90, -45, -10, 0, 30, 89, 135, 180])
def test_decode_round_trip_any_rotation(degrees):
    quad = _quad((96, 90), 70, 14, degrees)
    quad_out, score, orientation = decode_maps(encode_targets(quad, 192))
    assert np.abs(quad_out - quad).max() < 1e-3  # same corners, same reading order
    assert score == 1.0 and orientation == pytest.approx(1.0)


def test_no_blob_means_no_counter():
    assert decode_maps(np.zeros((48, 48, MAP_CHANNELS), np.float32)) is None


def _maps_with_weaker_blob(counter: np.ndarray, serial: np.ndarray, weak_score: float) -> np.ndarray:
    """Target maps of `counter` with a second window, `serial`, scored only `weak_score`."""
    maps = encode_targets(counter, 192)
    weak = encode_targets(serial, 192)
    weak[..., 0] *= weak_score
    return np.where(weak[..., :1] > 0, weak, maps)


def test_strongest_blob_wins_over_a_weaker_one():
    counter, serial = _quad((60, 50), 60, 14, 0), _quad((120, 150), 50, 10, 0)
    quad, _, _ = decode_maps(_maps_with_weaker_blob(counter, serial, 0.6))
    assert quad_iou(quad, counter) > 0.95


def test_every_blob_is_a_candidate_with_its_own_box_strongest_first():
    counter, serial = _quad((60, 50), 60, 14, 0), _quad((120, 150), 50, 10, 30)
    maps = _maps_with_weaker_blob(counter, serial, 0.7)
    found = decode_candidates(maps)
    assert [round(score, 2) for _, score, _ in found] == [1.0, 0.7]
    assert quad_iou(found[0][0], counter) > 0.95 and quad_iou(found[1][0], serial) > 0.95
    assert len(decode_candidates(maps, limit=1)) == 1


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


@pytest.mark.parametrize("shape, quad", [
    ((480, 640), _quad((300, 200), 100, 24, 20)),
    ((3000, 4000), _quad((2000, 1500), 1200, 250, -70)),
    ((640, 480), _quad((100, 600), 150, 30, 0)),  # near the edge: the zoomed view leaves the photo
])
def test_locate_counters_boxes_are_in_photo_pixels(shape, quad):
    image = np.full((*shape, 3), 30, np.uint8)
    _paint(image, quad)
    blank = np.full((480, 640, 3), 30, np.uint8)
    box, nothing = locate_counters([image, blank], PaintedLocator())
    assert isinstance(box, CounterBox) and nothing is None
    assert quad_iou(box.quad, quad) > 0.85  # the painted fake itself is only pixel-exact
    assert np.linalg.norm(box.quad[0] - quad[0]) < 0.05 * np.linalg.norm(quad[1] - quad[0])


def test_search_tiles_cover_the_photo():
    image = np.zeros((3000, 4000, 3), np.uint8)
    covered = np.zeros((3000, 4000), bool)
    for square, box in search_tiles(image):
        corners = box.to_image(np.array([[0, 0], [192, 192]], np.float32))
        (x0, y0), (x1, y1) = np.clip(np.round(corners), 0, None).astype(int)
        covered[y0:y1, x0:x1] = True
        assert square.shape == (192, 192)
    assert covered.all()


def test_a_window_too_small_for_the_whole_view_is_found_in_the_tiles():
    image = np.full((3000, 4000, 3), 30, np.uint8)
    quad = _quad((3100, 700), 500, 100, 10)  # 24 px long in the whole view, 40 px in a tile
    _paint(image, quad)
    square, _ = letterbox_grey(image)
    locator = PaintedLocator(min_length=30)
    assert decode_maps(locator.predict_outputs(square[None, ..., None] / 255.0)["maps"][0]) is None
    (box,) = locate_counters([image], locator)
    assert box is not None and quad_iou(box.quad, quad) > 0.8


def test_rectify_straightens_a_rotated_window():
    image = np.full((480, 640, 3), 200, np.uint8)
    quad = _quad((320, 240), 240, 48, 35)
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

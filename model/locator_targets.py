"""The locator's output maps: what they mean, how training targets are built and how a box is read
back from them. Pure numpy/cv2, shared by training (model/train_locator.py) and serving
(model/locate.py), so the two cannot drift apart.

The locator looks at the photo letterboxed to an S x S grey square and predicts, on a grid of
stride 4, one vector of MAP_CHANNELS per cell:
    0 score        P(cell centre lies inside the counter window)
    1, 2 dx, dy    window centre minus cell centre, in input pixels / GEOMETRY_SCALE
    3, 4           log(window length / GEOMETRY_SCALE), log(window height / GEOMETRY_SCALE)
    5, 6           cos 2a, sin 2a: the window's axis (a = angle of the reading direction)
    7, 8           cos a, sin a: the reading direction itself (which end comes first)
Every cell inside the window votes for the whole box, so the box is much finer than the grid,
and the two angle encodings separate "which axis" (easy) from "which way round" (harder): where
the direction votes disagree (a counter turned 90 degrees) their mean vector is short and the
orientation confidence low.
"""

from __future__ import annotations

import cv2
import numpy as np

MAP_CHANNELS = 9
STRIDE = 4
GEOMETRY_SCALE = 32.0


def quad_geometry(quad: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """(4, 2) reading-order quad -> (centre (2,), length, height, angle of reading direction)."""
    quad = np.asarray(quad, dtype=np.float64)
    centre = quad.mean(axis=0)
    forward = (quad[1] - quad[0] + quad[2] - quad[3]) / 2
    down = (quad[3] - quad[0] + quad[2] - quad[1]) / 2
    return centre, float(np.linalg.norm(forward)), float(np.linalg.norm(down)), float(np.arctan2(forward[1], forward[0]))


def encode_targets(quad: np.ndarray | None, input_size: int) -> np.ndarray:
    """Training target for one photo: (g, g, MAP_CHANNELS) float32, g = input_size // STRIDE.

    quad: (4, 2) window corners in locator-input pixels, reading order; None = no counter
    (all-zero target: only the score is learned there).
    """
    grid = input_size // STRIDE
    target = np.zeros((grid, grid, MAP_CHANNELS), np.float32)
    if quad is None:
        return target
    inside = np.zeros((grid, grid), np.uint8)
    # Cell (j, i) has its centre at ((i + .5) * STRIDE, (j + .5) * STRIDE): shift to grid units.
    cells = np.round((np.asarray(quad) / STRIDE - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(inside, [cells], 1, lineType=cv2.LINE_8, shift=4)
    if not inside.any():  # a window thinner than a cell still owns the cell at its centre
        centre = np.clip((np.asarray(quad).mean(0) / STRIDE).astype(int), 0, grid - 1)
        inside[centre[1], centre[0]] = 1
    centre, length, height, angle = quad_geometry(quad)
    ys, xs = np.nonzero(inside)
    target[ys, xs, 0] = 1.0
    target[ys, xs, 1] = (centre[0] - (xs + 0.5) * STRIDE) / GEOMETRY_SCALE
    target[ys, xs, 2] = (centre[1] - (ys + 0.5) * STRIDE) / GEOMETRY_SCALE
    target[ys, xs, 3] = np.log(max(length, 1.0) / GEOMETRY_SCALE)
    target[ys, xs, 4] = np.log(max(height, 1.0) / GEOMETRY_SCALE)
    target[ys, xs, 5:9] = [np.cos(2 * angle), np.sin(2 * angle), np.cos(angle), np.sin(angle)]
    return target


def decode_maps(maps: np.ndarray, *, score_threshold: float = 0.5,
                min_cells: int = 1) -> tuple[np.ndarray, float, float] | None:
    """The window from one photo's maps: (quad (4, 2) float32 in input pixels, score, orientation
    confidence), or None when no cell scores above `score_threshold`.

    maps: (g, g, MAP_CHANNELS) float32 as the locator outputs them (score already a probability).
    Only the strongest connected blob votes, so a serial number elsewhere cannot drag the box.
    """
    found = decode_candidates(maps, score_threshold=score_threshold, min_cells=min_cells, limit=1)
    return found[0] if found else None


def decode_candidates(maps: np.ndarray, *, score_threshold: float = 0.5, min_cells: int = 1,
                      limit: int | None = None) -> list[tuple[np.ndarray, float, float]]:
    """Every window the maps show, strongest (largest summed score) first, at most `limit`:
    a list of (quad (4, 2) float32 in input pixels, score, orientation confidence) as decode_maps.

    Each connected blob of cells above `score_threshold` is one window and only its own cells vote.
    """
    score = maps[..., 0]
    count, labels = cv2.connectedComponents((score > score_threshold).astype(np.uint8), connectivity=8)
    totals = np.bincount(labels.ravel(), weights=score.ravel(), minlength=count)[1:]
    sizes = np.bincount(labels.ravel(), minlength=count)[1:]
    order = [int(k) + 1 for k in np.argsort(-totals, kind="stable") if sizes[k] >= min_cells]
    return [_blob_box(maps, labels == k) for k in order[:limit]]


def _blob_box(maps: np.ndarray, blob: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The box the cells of one blob vote for: score-weighted means of their votes."""
    ys, xs = np.nonzero(blob)
    votes = maps[ys, xs]
    weight = votes[:, 0] / votes[:, 0].sum()
    centre = np.array([((xs + 0.5) * STRIDE + votes[:, 1] * GEOMETRY_SCALE) @ weight,
                       ((ys + 0.5) * STRIDE + votes[:, 2] * GEOMETRY_SCALE) @ weight])
    length, height = np.exp(votes[:, 3:5].T @ weight) * GEOMETRY_SCALE
    axis_angle = np.arctan2(votes[:, 6] @ weight, votes[:, 5] @ weight) / 2
    axis = np.array([np.cos(axis_angle), np.sin(axis_angle)])
    direction = np.array([votes[:, 7] @ weight, votes[:, 8] @ weight])
    along = float(direction @ axis)
    forward = axis if along >= 0 else -axis
    down = np.array([-forward[1], forward[0]])
    half_l, half_h = forward * length / 2, down * height / 2
    quad = np.array([centre - half_l - half_h, centre + half_l - half_h,
                     centre + half_l + half_h, centre - half_l + half_h], np.float32)
    score = float(votes[:, 0].mean())
    return quad, score, float(min(1.0, abs(along)))


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quads, each (4, 2) float in the same pixels."""
    a, b = (cv2.convexHull(np.asarray(q, np.float32)) for q in (a, b))
    inter, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - inter
    return float(inter / union) if union > 0 else 0.0

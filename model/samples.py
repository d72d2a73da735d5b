"""Sample meter photos with their true readings: `meter-ocr synth OUT_DIR --count N [--seed S]`.

Writes OUT_DIR/photo-0000.jpg ... and OUT_DIR/labels.csv (`path,label`, paths relative to
OUT_DIR), the format `meter-ocr eval` reads. Photos are whole rendered scenes
(model/synth/scenes.py): water, gas and electricity meters, mostly 640x480 to 1600x1200 with
an occasional 4000x3000, mostly near upright. With `negatives` > 0 that share of photos shows no
counter at all (blank, dark, clutter, a meter with its counter out of view) and has an empty
label: the expected outcome is `unreadable`, never a reading.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from model.synth.scenes import METER_KINDS, NEGATIVE_KINDS, render_scene

SAMPLE_SIZES = ((640, 480), (640, 480), (1024, 768), (1280, 960), (1600, 1200), (480, 640),
                (4000, 3000))
SIZE_WEIGHTS = (0.3, 0.1, 0.2, 0.15, 0.1, 0.1, 0.05)
LABELS_FILE = "labels.csv"


def write_samples(out_dir: Path, count: int, seed: int = 0, *, negatives: float = 0.0,
                  max_rotation: float = 45.0) -> Path:
    """Render `count` photos into out_dir as JPEGs; return the path of labels.csv.

    Deterministic for a given (seed, count); photo i depends only on (seed, i).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels_path = out_dir / LABELS_FILE
    with labels_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for index in range(count):
            name, label = _write_one(out_dir, seed, index, negatives, max_rotation)
            writer.writerow([name, label])
    return labels_path


def _write_one(out_dir: Path, seed: int, index: int, negatives: float, max_rotation: float) -> tuple[str, str]:
    rng = np.random.default_rng([seed, index, 7])
    negative = rng.random() < negatives
    kind = str(rng.choice(NEGATIVE_KINDS if negative else METER_KINDS))
    width, height = SAMPLE_SIZES[int(rng.choice(len(SAMPLE_SIZES), p=SIZE_WEIGHTS))]
    scene = render_scene(rng, width, height, kind=kind, max_rotation=max_rotation)
    name = f"photo-{index:04d}.jpg"
    quality = int(rng.integers(80, 96))
    ok, encoded = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {name}")
    (out_dir / name).write_bytes(encoded.tobytes())
    return name, scene.label or ""

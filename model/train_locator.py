"""Train the counter locator on rendered scenes, resumably, and export it to the model folder.

    nice -n 10 python -m model.train_locator --run-dir runs/locator --scenes 20000 --steps 6000
    python -m model.train_locator --run-dir runs/locator --export-only --export-dir model/shipped/locator

The rendered set is cached in the run folder (rendering is a third of the cost), training writes
a checkpoint every --checkpoint-every steps and log.csv, and a rerun continues from the last
checkpoint. Validation scenes come from a seed the training set never uses.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from model.locate import letterbox_grey
from model.locator_targets import decode_maps, encode_targets, quad_iou
from model.synth.scenes import render_scene

TRAIN_SEED, VALIDATION_SEED = 1, 2  # evaluate_scenes uses another seed again
KIND_WEIGHTS = {"water": 0.28, "gas": 0.24, "lcd": 0.28, "blank": 0.03, "dark": 0.03,
                "clutter": 0.06, "no_counter": 0.08}
PHOTO_SIZES = ((320, 240), (240, 320), (384, 216), (288, 288), (400, 300))


def render_example(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Scene number `index` of a seeded set -> (S x S uint8 input, (4, 2) quad or NaNs)."""
    seed, index, size = args
    rng = np.random.default_rng([seed, index])
    kinds = list(KIND_WEIGHTS)
    kind = str(rng.choice(kinds, p=np.array(list(KIND_WEIGHTS.values())) / sum(KIND_WEIGHTS.values())))
    width, height = PHOTO_SIZES[int(rng.integers(len(PHOTO_SIZES)))]
    scene = render_scene(rng, width, height, kind=kind, max_rotation=100.0)
    square, box = letterbox_grey(scene.image, size)
    if scene.quad is None:
        return square, np.full((4, 2), np.nan, np.float32)
    offset = np.array([box.offset_x, box.offset_y], np.float32)
    return square, (scene.quad * box.scale + offset).astype(np.float32)


def rendered_set(run_dir: Path, seed: int, count: int, size: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, S, S) uint8, quads (N, 4, 2) float32, NaN = no counter), cached on disk."""
    path = run_dir / f"scenes-seed{seed}-n{count}-s{size}.npz"
    if path.exists():
        cached = np.load(path)
        return cached["images"], cached["quads"]
    started = time.time()
    with Pool(workers) as pool:
        results = pool.map(render_example, [(seed, i, size) for i in range(count)], chunksize=64)
    images = np.stack([r[0] for r in results])
    quads = np.stack([r[1] for r in results])
    np.savez(path, images=images, quads=quads)
    print(f"rendered {count} scenes (seed {seed}) in {time.time() - started:.0f}s", flush=True)
    return images, quads


def batch_targets(quads: np.ndarray, size: int) -> np.ndarray:
    """(B, 4, 2) quads (NaN = none) -> (B, g, g, MAP_CHANNELS) float32 training targets."""
    return np.stack([encode_targets(None if np.isnan(q).any() else q, size) for q in quads])


def validation_iou_rate(predict, images: np.ndarray, quads: np.ndarray) -> dict:
    """IoU >= 0.5 rate on photos with a counter; false finds on photos without one."""
    found, hits, false_finds, negatives = 0, 0, 0, 0
    for start in range(0, len(images), 64):
        maps = predict(images[start:start + 64])
        for m, quad in zip(maps, quads[start:start + 64]):
            box = decode_maps(m)
            if np.isnan(quad).any():
                negatives += 1
                false_finds += box is not None
                continue
            found += 1
            hits += box is not None and quad_iou(box[0], quad) >= 0.5
    return {"iou50": hits / max(found, 1), "false_finds": false_finds / max(negatives, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/locator"))
    parser.add_argument("--scenes", type=int, default=20000)
    parser.add_argument("--validation-scenes", type=int, default=600)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--input-size", type=int, default=192)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--export-dir", type=Path, default=None)
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args(argv)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    from model.locator_training import train_and_export  # TensorFlow only past argument parsing

    train_and_export(args)


if __name__ == "__main__":
    main()

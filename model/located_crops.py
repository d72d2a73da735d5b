"""Counter crops as the whole-photo pipeline cuts them, to train the reader on what it is served.

    python -m model.located_crops --out runs/located/train.npz --count 12000 --seed 4100 \
        [--split train] [--real-digits ../shared/data] [--model-dir model/shipped]

The reader reads real counters cut by hand 96% exactly, but the windows the locator finds in
rendered photos 2 points less often than the true windows, and photos with real digits 89%
against 95%: the found box is a few percent long, short, high or turned, and the photo around it
has been scaled, blurred and JPEG-compressed. This renders training scenes (seeds no held-out
evaluation uses), sends each through the worker's path (JPEG bytes -> decode_image -> the
locator), cuts every window the pipeline reads (`pipeline.candidate_quads`, from the end it
would read first) and keeps those that hold the whole true window, each labelled with the
scene's reading. A box cut short is left out: it has lost a digit, and learning to read a digit
that is not there would teach the reader to invent one.

The photos are evaluate_scenes' (`scene_photos`), from `--seed` and `--seed + 1`; with
`--real-digits`, the second half's water and gas meters show counters composed from real digit
crops of `--split` (the reader's own training crops for `train`, validation crops for `val`),
the rest rendered drums; LCD meters are rendered. Writes an .npz: `images` (N, 32, 128) uint8
as the reader's canvas (`normalise.fit_to_canvas`) and `labels` (N,) str.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from model.evaluate_scenes import (
    DEFAULT_SIZES,
    batches,
    decode_photos,
    real_digit_counters,
    scene_photos,
)
from model.normalise import DEFAULT_HEIGHT, DEFAULT_WIDTH, fit_to_canvas
from model.pipeline import candidate_quads, find_windows
from model.rectify import rectify
from model.synth.scenes import METER_KINDS

log = logging.getLogger(__name__)
# The true window may reach this share of the cut window's length past either end: the window
# includes the counter's frame, so the digits are still inside.
END_TOLERANCE = 0.03


def training_photos(seed: int, count: int, real_counters=None):
    """`count` meter photos as evaluate_scenes renders them (its tuples), from `seed` and
    `seed + 1`; with `real_counters`, the second half's water and gas windows show them."""
    if real_counters is None:
        yield from scene_photos(seed, count, METER_KINDS, DEFAULT_SIZES, 90.0)
        return
    yield from scene_photos(seed, count - count // 2, METER_KINDS, DEFAULT_SIZES, 90.0)
    yield from scene_photos(seed + 1, count // 2, METER_KINDS, DEFAULT_SIZES, 90.0, drum_counters=real_counters)


def holds_true_window(cut: np.ndarray, true_quad: np.ndarray, tolerance: float = END_TOLERANCE) -> bool:
    """Whether the cut window (reading order) holds the true one end to end, read the same way
    round, and overlaps it across its height. Both (4, 2) in the same pixels."""
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
    to_unit = cv2.getPerspectiveTransform(np.asarray(cut, np.float32), unit)
    corners = cv2.perspectiveTransform(np.asarray(true_quad, np.float32)[None], to_unit)[0]
    left, right = corners[[0, 3], 0], corners[[1, 2], 0]
    top, bottom = corners[[0, 1], 1], corners[[2, 3], 1]
    return bool(left.min() >= -tolerance and right.max() <= 1 + tolerance
                and top.max() < 0.5 and bottom.min() > 0.5)


def cut_located(models, photos, batch_size: int = 32):
    """(canvases, labels, photos seen, photos kept) over the photos' located windows."""
    canvases, labels, seen, kept = [], [], 0, 0
    for batch in batches(photos, batch_size):
        images = decode_photos([data for _, data, _, _, _ in batch])
        boxes = find_windows(images, models, None)
        for (_, _, label, true_quad, width), image, box in zip(batch, images, boxes):
            seen += 1
            if box is None:
                continue
            true_quad = true_quad * (image.shape[1] / width)
            cuts = [quad for end, quad in candidate_quads(box) if end == 0 and holds_true_window(quad, true_quad)]
            kept += bool(cuts)
            for quad in cuts:
                canvases.append(fit_to_canvas(rectify(image, quad), DEFAULT_HEIGHT, DEFAULT_WIDTH))
                labels.append(label)
        if seen % (batch_size * 20) == 0:
            log.info("%d scenes, %d with the window found whole, %d crops", seen, kept, len(labels))
    return canvases, labels, seen, kept


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help=".npz to write")
    parser.add_argument("--count", type=int, default=12000, help="scenes to render")
    parser.add_argument("--seed", type=int, default=4100, help="not a held-out evaluation's seed")
    parser.add_argument("--split", choices=("train", "val"), default="train", help="real digit crops of this split")
    parser.add_argument("--real-digits", type=Path, metavar="DATA_DIR", help="e.g. ../shared/data")
    parser.add_argument("--model-dir", type=Path, default=Path(__file__).parent / "shipped")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from model.runtime import load_models

    real = real_digit_counters(args.real_digits, args.split) if args.real_digits else None
    models = load_models(args.model_dir)
    started = time.time()
    canvases, labels, seen, kept = cut_located(models, training_photos(args.seed, args.count, real))
    if not canvases:
        raise SystemExit(f"no window held a whole counter in {seen} scenes: nothing written to {args.out}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=np.stack(canvases), labels=np.array(labels))
    print(json.dumps({"scenes": seen, "scenes_kept": kept, "crops": len(labels), "out": str(args.out),
                      "seconds": round(time.time() - started, 1)}))


if __name__ == "__main__":
    main()

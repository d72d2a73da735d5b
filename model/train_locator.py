"""Train the counter locator on rendered scenes, resumably, and export it to the model folder.

    nice -n 10 python -m model.train_locator --run-dir runs/locator --scenes 20000 --steps 6000
    nice -n 15 python -m model.train_locator --run-dir runs/locator3 --scenes 12000 --zoomed-scenes 2000 --steps 11000
    nice -n 10 python -m model.train_locator --run-dir runs/locator4 --init-weights runs/locator3/best.weights.h5 \
        --scenes 24000 --zoomed-scenes 11000 --steps 6000 --lr 5e-4
    nice -n 5 python -m model.train_locator --run-dir runs/locator7 --init-weights WEIGHTS \
        --scenes 8000 --zoomed-scenes 8000 --real-digits ../shared/data --real-share 0.5 --steps 3000 --lr 2e-4
    nice -n 5 python -m model.train_locator --run-dir runs/locator10 --init-weights WEIGHTS \
        --scenes 16000 --zoomed-scenes 8000 --real-digits ../shared/data --plain-scenes 24000 --plain-zoomed-scenes 11000 \
        --steps 6000 --lr 2e-4
    python -m model.train_locator --run-dir runs/locator --export-only --export-dir model/shipped/locator

The locator sees two kinds of view at serving time (model/locate.py), and learns from both:
whole photos letterboxed into its square, and second-pass views, a square around a first-pass
find zoomed so the window is about REFINE_FRACTION of it (--zoomed-scenes of them, rendered
around the true window moved and scaled the way first-pass boxes miss it, some aimed beside it
or at photos without a counter, so the second pass learns to correct and to reject).
With --real-digits, a share of the drum meters' windows show counters of real digit crops (the
training split), as a photographed counter looks, rather than rendered drums; --plain-scenes and
--plain-zoomed-scenes join as many without them (the sets earlier phases trained on).
The rendered sets are cached in the run folder (rendering is a third of the cost), training writes
a checkpoint every --checkpoint-every steps and log.csv, and a rerun continues from the last
checkpoint. Validation scenes come from a seed the training set never uses.
"""

from __future__ import annotations

import argparse
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from model.locate import REFINE_FRACTION, letterbox_grey, refine_side, zoom_square
from model.locator_targets import decode_maps, encode_targets, quad_geometry, quad_iou
from model.synth.scenes import CLOSE_UP_SHARE, COUNTER_SHARE, render_scene

TRAIN_SEED, VALIDATION_SEED = 1, 2  # evaluate_scenes uses another seed again
KIND_WEIGHTS = {"water": 0.28, "gas": 0.24, "lcd": 0.28, "blank": 0.03, "dark": 0.03,
                "clutter": 0.06, "no_counter": 0.08}
PHOTO_SIZES = ((320, 240), (240, 320), (384, 216), (288, 288), (400, 300))
# Second-pass views are cut from photos as large as the pipeline decodes them.
ZOOMED_KIND_WEIGHTS = {"water": 0.28, "gas": 0.27, "lcd": 0.3, "clutter": 0.05, "no_counter": 0.1}
ZOOMED_PHOTO_SIZES = ((640, 480), (1024, 768), (480, 640), (800, 600))
# Close-ups: a photo taken close enough that the counter is 40-75% of its width (field staff
# photographing an LCD). Scenes had none before locator s5500-after-locator3: on held-out
# close-ups (evaluate_scenes --counter-share 0.4,0.75, reader-1.3) locator-s10000 found 91% of
# counters and 66% were read exactly, s5500-after-locator3 99% and 87% (150 photos).
CLOSE_UP = 0.3
FIRST_PASS_ERROR = {"along": 0.08, "across": 0.3, "log_size": 0.12}  # spread of first-pass misses
AIMED_BESIDE = 0.12  # share of views centred beside the window (a serial or a label found first)
RENDER_CHUNK = 1000
# With --real-digits, this share of the water and gas meters rendered show counters composed from
# real digit crops of the training split (model.real_digits) instead of rendered drums: windows
# that look like a photographed counter, each crop with its own paper, ink and light. Set in each
# rendering process by _use_real_digits.
_real_counters = None
_real_share = 0.0


def render_example(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Scene number `index` of a seeded set -> (S x S uint8 whole-photo input, (4, 2) quad or NaNs)."""
    return _with_retries(_render_letterboxed, *args)


def render_zoomed_example(args: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Scene number `index` of a seeded set -> (S x S uint8 second-pass view, (4, 2) quad or NaNs)."""
    return _with_retries(_render_zoomed, *args)


def _use_real_digits(data_dir: Path | None, share: float) -> None:
    """Pool initializer: load the training split's crops once per rendering process."""
    global _real_counters, _real_share
    if data_dir is not None and share > 0:
        from dataclasses import replace

        from model.real_digits import RealCounterSource

        _real_counters = replace(RealCounterSource.from_data_dir(data_dir, "train", lengths=(5, 8)), augment=False)
        _real_share = share


def _drum_counters(rng: np.random.Generator):
    """The render_scene `drum_counters` for one scene: real crops for _real_share of them. No
    draw from `rng` without --real-digits, so the earlier runs' scenes render as they did."""
    if _real_counters is not None and rng.random() < _real_share:
        return _real_counters
    return None


def _with_retries(render, seed: int, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    for attempt in range(3):  # a renderer bug must cost one scene, not a whole rendered set
        try:
            return render(np.random.default_rng([seed, index, attempt]), size)
        except (ValueError, IndexError, cv2.error) as exc:
            print(f"scene {seed}/{index} attempt {attempt} failed: {exc!r}", flush=True)
    raise RuntimeError(f"scene {seed}/{index} failed three times")


def _render_letterboxed(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    kinds = list(KIND_WEIGHTS)
    kind = str(rng.choice(kinds, p=np.array(list(KIND_WEIGHTS.values())) / sum(KIND_WEIGHTS.values())))
    width, height = PHOTO_SIZES[int(rng.integers(len(PHOTO_SIZES)))]
    scene = render_scene(rng, width, height, kind=kind, max_rotation=100.0, counter_share=_counter_share(rng),
                         drum_counters=_drum_counters(rng))
    square, box = letterbox_grey(scene.image, size)
    return square, _in_view(scene.quad, box)


def _render_zoomed(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    kind = str(rng.choice(list(ZOOMED_KIND_WEIGHTS), p=list(ZOOMED_KIND_WEIGHTS.values())))
    width, height = ZOOMED_PHOTO_SIZES[int(rng.integers(len(ZOOMED_PHOTO_SIZES)))]
    scene = render_scene(rng, width, height, kind=kind, max_rotation=100.0, counter_share=_counter_share(rng),
                         drum_counters=_drum_counters(rng))
    if scene.quad is None:  # a first pass fooled by a label or a pipe: somewhere, some size
        centre = rng.uniform([0, 0], [width, height])
        side = width * rng.uniform(*COUNTER_SHARE) / REFINE_FRACTION
    else:
        centre, side = _first_pass_guess(rng, scene.quad)
    square, view = zoom_square(scene.image, centre, side, size)
    return square, _in_view(scene.quad, view)


def _counter_share(rng: np.random.Generator) -> tuple[float, float]:
    return CLOSE_UP_SHARE if rng.random() < CLOSE_UP else COUNTER_SHARE


def _first_pass_guess(rng: np.random.Generator, quad: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and side of the second-pass view model.locate would cut around a first-pass box
    that missed `quad` as first-pass boxes do; now and then aimed beside the window."""
    centre, length, height, angle = quad_geometry(quad)
    forward = np.array([np.cos(angle), np.sin(angle)])
    down = np.array([-forward[1], forward[0]])
    if rng.random() < AIMED_BESIDE:
        along, across = rng.uniform(-0.8, 0.8), rng.choice([-1, 1]) * rng.uniform(1.5, 4)
    else:
        along, across = rng.normal(0, FIRST_PASS_ERROR["along"]), rng.normal(0, FIRST_PASS_ERROR["across"])
    length *= np.exp(rng.normal(0, FIRST_PASS_ERROR["log_size"]))
    height *= np.exp(rng.normal(0, FIRST_PASS_ERROR["log_size"]))
    guess = centre + forward * along * length + down * across * height
    return guess, refine_side(length, height)


def _in_view(quad: np.ndarray | None, view) -> np.ndarray:
    """A photo quad in the locator input's pixels ((4, 2) float32); NaNs when there is none."""
    return np.full((4, 2), np.nan, np.float32) if quad is None else view.to_view(quad)


def rendered_set(run_dir: Path, seed: int, count: int, size: int, workers: int, zoomed: bool = False,
                 real_digits: Path | None = None, real_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, S, S) uint8, quads (N, 4, 2) float32, NaN = no counter), cached on disk in
    chunks, so an interrupted render resumes where it stopped. zoomed: second-pass views;
    real_digits (a data folder) and real_share: see _real_counters."""
    images, quads = [], []
    render, name = (render_zoomed_example, "zoomed") if zoomed else (render_example, "scenes")
    if real_digits is not None and real_share > 0:
        name += f"-real{real_share:g}"
    for start in range(0, count, RENDER_CHUNK):
        stop = min(count, start + RENDER_CHUNK)
        path = run_dir / f"{name}-seed{seed}-{start}-{stop}-s{size}.npz"
        if not path.exists():
            started = time.time()
            with Pool(workers, initializer=_use_real_digits, initargs=(real_digits, real_share)) as pool:
                results = pool.map(render, [(seed, i, size) for i in range(start, stop)], chunksize=32)
            np.savez(path, images=np.stack([r[0] for r in results]), quads=np.stack([r[1] for r in results]))
            print(f"rendered {name} {start}-{stop} (seed {seed}) in {time.time() - started:.0f}s", flush=True)
        cached = np.load(path)
        images.append(cached["images"])
        quads.append(cached["quads"])
    return np.concatenate(images), np.concatenate(quads)


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
    parser.add_argument("--zoomed-scenes", type=int, default=0, help="second-pass views to train on too")
    parser.add_argument("--zoomed-share", type=float, default=0.5, help="of each batch, when there are any")
    parser.add_argument("--upside-down-share", type=float, default=0.0,
                        help="of each batch, views turned 180 degrees (meters mounted upside down)")
    parser.add_argument("--real-digits", type=Path, metavar="DATA_DIR",
                        help="training scenes' water and gas windows show counters of real digit crops (the "
                             "training split of DATA_DIR/haverland_digits, e.g. ../shared/data) for --real-share")
    parser.add_argument("--real-share", type=float, default=0.5, help="of the water and gas meters, with --real-digits")
    parser.add_argument("--plain-scenes", type=int, default=0,
                        help="with --real-digits, this many rendered scenes without real digits joined to --scenes")
    parser.add_argument("--plain-zoomed-scenes", type=int, default=0,
                        help="with --real-digits, this many second-pass views without real digits joined to --zoomed-scenes")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--input-size", type=int, default=192)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--init-weights", type=Path, default=None,
                        help="start a new run (new schedule) from these weights, e.g. an earlier run's best")
    parser.add_argument("--export-dir", type=Path, default=None)
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--version", help="the exported locator's version (default: locator-DATE-sSTEP-after-RUN)")
    args = parser.parse_args(argv)
    if (args.plain_scenes or args.plain_zoomed_scenes) and args.real_digits is None:
        parser.error("--plain-scenes and --plain-zoomed-scenes join real-digit sets: give --real-digits too")
    args.run_dir.mkdir(parents=True, exist_ok=True)
    # TensorFlow only past argument parsing
    from model.locator_training import train_and_export

    train_and_export(args)


if __name__ == "__main__":
    main()

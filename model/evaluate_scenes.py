"""Held-out whole-photo evaluation: does the pipeline find and read the counter?

    python -m model.evaluate_scenes --count 500 [--negatives 100] [--seed 777,31337] [--model-dir model/shipped]
        [--counter-share 0.4,0.75] [--real-digits ../shared/data [--digits-split val]] [--list-wrong]

Renders scenes from a seed neither training nor validation used, sends each through the path a
worker takes (JPEG bytes -> decode_image at the pipeline's resolution -> read_images) and prints:
the share of photos whose located window overlaps the true one with IoU >= 0.5, exact-match of
the reading (and, to split the blame, of the reading from the true window), the status mix and
the error rate among `accepted`, per meter kind, and each wrong `accepted` reading with its
confidence; and for photos without a counter (blank, dark, clutter, meter with no counter in
view) how many were accepted, which must be zero. With --real-digits the water and gas meters'
windows show counters composed from real digit crops the models never trained on, a step closer
to a real photo. Several seeds (--seed A,B,...) render --count and --negatives photos each and
report them together: more photos, a steadier rate. --list-wrong adds every photo read wrong,
whatever its status, counted by how it is wrong (`error_kind`) and by whether the true window
reads it right: the locator's share of the errors against the reader's.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from model.image_io import decode_image
from model.locator_targets import quad_geometry, quad_iou
from model.pipeline import (
    DEFAULT_DECODE_GREY,
    DEFAULT_DECODE_MAX_SIDE,
    find_windows,
    read_images,
)
from model.read_crops import read_crops
from model.rectify import rectify
from model.synth.scenes import COUNTER_SHARE, METER_KINDS, NEGATIVE_KINDS, render_scene

HELD_OUT_SEED = 20261121
DEFAULT_SIZES = ((640, 480), (1024, 768), (1600, 1200), (480, 640))
MAX_BYTES, MAX_PIXELS = 40 * 1024 * 1024, 50_000_000


def scene_photos(seed: int, count: int, kinds: tuple[str, ...], sizes, max_rotation: float,
                 counter_share: tuple[float, float] = COUNTER_SHARE, drum_counters=None):
    """Yield (kind, JPEG bytes, label, quad in the original photo's pixels, original width).
    `drum_counters` as in render_scene (real-digit counters in the drum meters' windows)."""
    for index in range(count):
        rng = np.random.default_rng([seed, index, len(kinds)])
        kind = kinds[index % len(kinds)]
        width, height = sizes[int(rng.integers(len(sizes)))]
        scene = render_scene(rng, width, height, kind=kind, max_rotation=max_rotation, counter_share=counter_share,
                             drum_counters=drum_counters)
        _, encoded = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
        yield kind, encoded.tobytes(), scene.label, scene.quad, width


def batches(items, size: int):
    """Lists of up to `size` consecutive items."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_batch(models, batch) -> tuple[list[np.ndarray], list]:
    """Photos as a worker reads them: JPEG bytes -> decode_image at the pipeline's resolution ->
    read_images. Returns (decoded images, readings)."""
    images = decode_photos([data for _, data, _, _, _ in batch])
    return images, read_images(images, models)


def decode_photos(encoded: list[bytes]) -> list[np.ndarray]:
    """JPEG bytes -> pixels as a worker decodes them for the pipeline."""
    return [decode_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS,
                         target_max_side=DEFAULT_DECODE_MAX_SIDE, grey=DEFAULT_DECODE_GREY) for data in encoded]


def evaluate(models, photos, batch_size: int = 32, accepted_wrong: list[dict] | None = None,
             wrong: list[dict] | None = None, tallies: dict[str, Counter] | None = None) -> dict:
    """Run photos through decode -> read_images in batches; return the tallies per kind (added to
    `tallies` when given, so that several sets of photos are counted together). Each
    wrong `accepted` reading is also appended to `accepted_wrong` (kind, label, reading,
    confidence): a few of them decide whether a reader may ship. Each photo with a counter read
    wrong, whatever its status, is appended to `wrong` (see wrong_entry): where the errors are."""
    tallies = {} if tallies is None else tallies
    for batch in batches(photos, batch_size):
        _evaluate_batch(models, batch, tallies, accepted_wrong, wrong)
    return tallies


def _evaluate_batch(models, batch, tallies: dict[str, Counter], accepted_wrong: list[dict] | None,
                    wrong_readings: list[dict] | None = None) -> None:
    images, readings = read_batch(models, batch)
    boxes = find_windows(images, models, None)
    oracle = _oracle_readings(models, batch, images)
    for (kind, _, label, quad, width), image, box, reading in zip(batch, images, boxes, readings):
        tally = tallies.setdefault(kind, Counter())
        tally["photos"] += 1
        tally[f"status_{reading.status.value}"] += 1
        accepted_and_wrong = reading.status.value == "accepted" and reading.reading != label
        if accepted_and_wrong and accepted_wrong is not None:
            accepted_wrong.append({"kind": kind, "label": label, "reading": reading.reading,
                                   "confidence": round(reading.confidence or 0.0, 5)})
        if label is None:
            continue
        true_quad = quad * (image.shape[1] / width)
        iou = quad_iou(box.quad, true_quad) if box is not None else 0.0
        from_true_window = oracle.pop(0)
        tally["located"] += iou >= 0.5
        tally["exact"] += reading.reading == label
        tally["oracle_exact"] += from_true_window == label
        tally["accepted_wrong"] += accepted_and_wrong
        if reading.reading != label and wrong_readings is not None:
            wrong_readings.append(wrong_entry(kind, label, reading, iou, true_quad, from_true_window))


def wrong_entry(kind: str, label: str, reading, iou: float, true_quad: np.ndarray,
                from_true_window: str | None) -> dict:
    """One photo read wrong: what it read, how, how well its window was found, how high the true
    window is in the decoded photo, and what the true window reads."""
    _, _, height, _ = quad_geometry(true_quad)
    return {"kind": kind, "label": label, "reading": reading.reading, "error": error_kind(label, reading.reading),
            "status": reading.status.value, "confidence": round(reading.confidence or 0.0, 5),
            "window_iou": round(iou, 3), "window_height_px": round(height), "true_window_reads": from_true_window}


def error_kind(label: str, reading: str | None) -> str:
    """How a reading differs from its label: 'last digit one off' (a last drum caught turning
    reads the digit before or after, carries included: 0009 read 0010, 1299 read 1290),
    'digits lost' or 'digits gained' (a box cut short or too long, or a digit missed in a gap),
    'digits misread' (as many digits, others wrong), 'nothing read'."""
    if not reading:
        return "nothing read"
    if len(reading) < len(label):
        return "digits lost"
    if len(reading) > len(label):
        return "digits gained"
    one_step = abs(int(reading) - int(label)) == 1
    last_drum_only = reading[:-1] == label[:-1] and (int(reading[-1]) - int(label[-1])) % 10 in (1, 9)
    return "last digit one off" if one_step or last_drum_only else "digits misread"


def wrong_summary(wrong: list[dict]) -> dict:
    """The wrong photos by how they are wrong, and how many of each the true window reads right."""
    summary: dict[str, dict[str, int]] = {}
    for entry in wrong:
        counts = summary.setdefault(entry["error"], {"photos": 0, "true_window_right": 0})
        counts["photos"] += 1
        counts["true_window_right"] += entry["true_window_reads"] == entry["label"]
    return dict(sorted(summary.items(), key=lambda item: -item[1]["photos"]))


def _oracle_readings(models, batch, images) -> list[str | None]:
    """Readings from the TRUE window (rectified like the pipeline's): the reader's share of errors."""
    crops = [rectify(image, quad * (image.shape[1] / width))
             for (_, _, label, quad, width), image in zip(batch, images) if label is not None]
    return [r.reading for r in read_crops(crops, models)] if crops else []


def summarise(tallies: dict[str, Counter]) -> dict:
    """Rates from tallies: per kind and over all photos with a counter / without one."""
    summary = {}
    positives, negatives = Counter(), Counter()
    for kind, tally in sorted(tallies.items()):
        (positives if kind in METER_KINDS else negatives).update(tally)
        summary[kind] = _rates(tally)
    summary["all_meters"] = _rates(positives)
    summary["all_negatives"] = {"photos": negatives["photos"], "accepted": negatives["status_accepted"],
                                "review": negatives["status_review"],
                                "unreadable": negatives["status_unreadable"]}
    return summary


def _rates(tally: Counter) -> dict:
    photos = max(tally["photos"], 1)
    accepted = tally["status_accepted"]
    return {"photos": tally["photos"], "located_iou50": round(tally["located"] / photos, 4),
            "exact_match": round(tally["exact"] / photos, 4),
            "exact_match_true_window": round(tally["oracle_exact"] / photos, 4),
            "accepted_share": round(accepted / photos, 4),
            "accepted_error_rate": round(tally["accepted_wrong"] / max(accepted, 1), 4),
            "statuses": {k[7:]: v for k, v in tally.items() if k.startswith("status_")}}


def real_digit_counters(data_dir: Path, split: str = "test"):
    """Counters of 5-8 real crops of one split, carry-consistent, not augmented (the scene's
    camera effects apply on top). The test split's crops: neither the reader nor the locator
    trained on them; the validation split's: only chose and calibrated the reader."""
    from dataclasses import replace

    from model.evaluate_heldout import real_source

    return replace(real_source(data_dir, split), augment=False)


def seed_list(text: str) -> list[int]:
    """--seed's value: one whole number or several separated by commas."""
    try:
        return [int(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"whole numbers separated by commas, not {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="photos with a counter")
    parser.add_argument("--negatives", type=int, default=100, help="photos without a counter")
    parser.add_argument("--seed", type=seed_list, default=[HELD_OUT_SEED],
                        help="the scenes' seed, or several (A,B,...): --count and --negatives photos for each")
    parser.add_argument("--model-dir", type=Path, default=Path(__file__).parent / "shipped")
    parser.add_argument("--max-rotation", type=float, default=90.0)
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in DEFAULT_SIZES))
    parser.add_argument("--counter-share", default=",".join(f"{v:g}" for v in COUNTER_SHARE),
                        help="the counter window's width / the photo's, low,high (close-ups: 0.4,0.75)")
    parser.add_argument("--real-digits", type=Path, metavar="DATA_DIR",
                        help="fill the water and gas meters' windows with counters composed from the real "
                             "digit crops of the test split (DATA_DIR/haverland_digits, e.g. ../shared/data)")
    parser.add_argument("--digits-split", choices=("test", "val"), default="test",
                        help="with --real-digits: the split whose crops compose the counters ('val': crops the "
                             "reader was chosen and calibrated on, a second, smaller pool)")
    parser.add_argument("--list-wrong", action="store_true",
                        help="also list every photo with a counter read wrong, whatever its status (its window's "
                             "IoU and height, what the true window reads), and count them by how they are wrong")
    args = parser.parse_args(argv)
    from model.runtime import (
        load_models,  # TensorFlow only once the arguments are valid
    )

    sizes = tuple(tuple(int(v) for v in s.split("x")) for s in args.sizes.split(","))
    share = tuple(float(v) for v in args.counter_share.split(","))
    drum_counters = real_digit_counters(args.real_digits, args.digits_split) if args.real_digits else None
    models = load_models(args.model_dir)
    accepted_wrong: list[dict] = []
    wrong: list[dict] | None = [] if args.list_wrong else None
    tallies: dict[str, Counter] = {}
    for seed in args.seed:
        evaluate(models, scene_photos(seed, args.count, METER_KINDS, sizes, args.max_rotation, share, drum_counters),
                 accepted_wrong=accepted_wrong, wrong=wrong, tallies=tallies)
        evaluate(models, scene_photos(seed + 1, args.negatives, NEGATIVE_KINDS, sizes, args.max_rotation),
                 accepted_wrong=accepted_wrong, tallies=tallies)
    summary = summarise(tallies)
    summary["accepted_wrong"] = accepted_wrong
    if wrong is not None:
        summary["wrong_by_error"] = wrong_summary(wrong)
        summary["wrong"] = wrong
    summary["seeds"] = args.seed
    summary["model_version"] = models.version
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

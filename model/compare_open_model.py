"""Our reader against an open meter-digit model, on the same real counters.

    python -m model.compare_open_model --open-model collectmeterdigits-1.0.10-py3-none-any.whl
        [--count 2000] [--model-dir model/shipped] [--data-dir ../shared/data]

The open model is haverland's dig-class100 (the .tflite in the `collectmeterdigits` package on
PyPI: `pip download collectmeterdigits==1.0.10 --no-deps`; pass the wheel or the .tflite). It
sorts one digit crop into 100 classes d.t (digit d rolled t tenths towards d + 1), so it needs
the counter cut into digits: it is given the very crops each test counter was composed from, a
perfect segmentation that our reader, which reads the whole counter as `read --crop` does, never
gets. It was trained on haverland_digits, very likely including our test split's crops, so its
numbers are if anything optimistic. Its d.t classes become a reading two ways: `floor` (each
digit's d) and `carry` (right to left like an odometer: the last drum and any drum left of one
reading 9.x are floored; every other drum rests on a digit, so it is rounded to the nearest).

Counters: the `real_test` set of model.evaluate_heldout (same seed, same crops). Prints JSON:
exact match and per-digit accuracy of each, and the last drum's error rate by how far it rolled.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from model.evaluate import align, score_readings
from model.evaluate_heldout import REAL_TEST_SEED, real_source
from model.real_digits import DEFAULT_DATA_DIR, DigitCrop, reading_of

OPEN_INPUT = (20, 32)  # width, height of dig-class100's RGB input, float 0-255
OPEN_BATCH = 256


def load_open_model(path: Path):
    """A TFLite interpreter for the .tflite file, or the first models/*.tflite inside a wheel."""
    import tensorflow as tf

    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            names = [n for n in wheel.namelist() if n.endswith(".tflite")]
            if not names:
                raise SystemExit(f"{path}: no .tflite model inside")
            return tf.lite.Interpreter(model_content=wheel.read(min(names)))
    return tf.lite.Interpreter(model_path=str(path))


def classify_digits(interpreter, crops: list[np.ndarray]) -> np.ndarray:
    """(N,) int classes 0..99 (10 * d + t) for BGR digit crops, resized as the model expects."""
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], [OPEN_BATCH, OPEN_INPUT[1], OPEN_INPUT[0], 3])
    interpreter.allocate_tensors()
    classes = []
    for start in range(0, len(crops), OPEN_BATCH):
        chunk = [cv2.resize(c[:, :, ::-1], OPEN_INPUT, interpolation=cv2.INTER_LINEAR) for c in crops[start:start + OPEN_BATCH]]
        batch = np.zeros((OPEN_BATCH, OPEN_INPUT[1], OPEN_INPUT[0], 3), np.float32)
        batch[:len(chunk)] = chunk
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        classes.extend(np.argmax(interpreter.get_tensor(out["index"]), axis=1)[:len(chunk)])
    return np.asarray(classes)


def floor_reading(classes) -> str:
    return "".join(str(c // 10) for c in classes)


def carry_reading(classes) -> str:
    """Right to left: the last drum, and a drum whose right neighbour reads 9.x (turning
    towards 0, so this one turns with it), are floored; a drum at rest is rounded."""
    digits = []
    for k, c in enumerate(classes):
        rolling = k == len(classes) - 1 or classes[k + 1] // 10 == 9
        digits.append(c // 10 if rolling else (c + 5) // 10 % 10)
    return "".join(map(str, digits))


def real_test_counters(data_dir: Path, count: int) -> list[tuple[np.ndarray, list[DigitCrop]]]:
    """evaluate_heldout's `real_test` counters, each with the crops it was composed from (drawn
    as RealCounterSource.fixed_set draws them)."""
    source = replace(real_source(data_dir, "test"), augment=False)
    rng = np.random.default_rng(REAL_TEST_SEED)
    return [source.draw(rng) for _ in range(count)]


def score(readings: list[str | None], labels: list[str], last_rolls: list[str]) -> dict:
    """Exact match, per-digit accuracy (aligned as model.evaluate aligns it) and the last
    drum's error rate by how far it rolled (a reading of another length misses it)."""
    exact = digits_right = 0
    last: dict[str, list[int]] = {}
    for reading, label, roll in zip(readings, labels, last_rolls):
        text = reading or ""
        exact += text == label
        digits_right += sum(truth == got for truth, got in align(label, text))
        tally = last.setdefault(roll, [0, 0])
        tally[0] += len(text) != len(label) or text[-1] != label[-1]
        tally[1] += 1
    return {"exact_match": round(exact / len(labels), 4),
            "per_digit_accuracy": round(digits_right / sum(map(len, labels)), 4),
            "last_drum_error_rate_by_roll": {roll: {"crops": n, "error_rate": round(e / n, 4)}
                                             for roll, (e, n) in sorted(last.items())}}


def run(args) -> dict:
    from model.read_crops import read_crops_checked
    from model.runtime import load_models

    counters = real_test_counters(args.data_dir, args.count)
    models = load_models(args.model_dir)
    labels = [reading_of(picks) for _, picks in counters]
    last_rolls = [picks[-1].roll for _, picks in counters]
    readings = read_crops_checked([image for image, _ in counters], models)  # as `read --crop`
    report = score_readings(readings, labels)
    crops = [c.image for _, picks in counters for c in picks]
    classes = classify_digits(load_open_model(args.open_model), crops)
    per_counter, start = [], 0
    for _, picks in counters:
        per_counter.append(classes[start:start + len(picks)])
        start += len(picks)
    return {"counters": len(counters), "model_version": models.version,
            "ours": {**score([r.reading for r in readings], labels, last_rolls),
                     "coverage_at_995": report.coverage_at_995, "accepted_share": report.accepted_share,
                     "accepted_error": report.accepted_error},
            "open_floor": score([floor_reading(c) for c in per_counter], labels, last_rolls),
            "open_carry": score([carry_reading(c) for c in per_counter], labels, last_rolls)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open-model", type=Path, required=True, help="dig-class100 .tflite, or the collectmeterdigits wheel")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--model-dir", type=Path, default=Path(__file__).parent / "shipped")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    if not args.open_model.is_file():
        raise SystemExit(f"{args.open_model}: no such file")
    if not (args.data_dir / "haverland_digits" / "labels.csv").is_file():
        raise SystemExit(f"{args.data_dir}: no haverland_digits/labels.csv")
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()

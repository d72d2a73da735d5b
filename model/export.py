"""Write a reader as a TensorFlow SavedModel plus metadata.json (the model folder contract).

Signature `serving_default`: input `image` float32 (N, H, W, 1) in [0,1] -> output `probs`
float32 (N, T, C), softmax over the alphabet and the CTC blank. metadata.json beside it carries
everything serving needs to interpret `probs` (docs/architecture.md).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import keras
import tensorflow as tf

from model.fold import SERVING_NOTE, fold_batch_norms
from model.network import ALPHABET, BLANK_INDEX, build_reader

METADATA_FILE = "metadata.json"
DEFAULT_THRESHOLD = 0.9  # placeholder until model.calibrate measures one on held-out data


def build_metadata(
    model: keras.Model,
    *,
    version: str,
    threshold: float = DEFAULT_THRESHOLD,
    metrics: dict | None = None,
    trained_on: dict | str | None = None,
) -> dict:
    """The metadata.json dict for a reader model with input (N,H,W,1)."""
    _, height, width, channels = model.input_shape
    return {
        "version": version,
        "alphabet": ALPHABET,
        "blank_index": BLANK_INDEX,
        "input_height": int(height),
        "input_width": int(width),
        "input_channels": int(channels),
        "output_frames": int(model.output_shape[1]),
        "threshold": float(threshold),
        "metrics": metrics or {},
        "trained_on": trained_on or "untrained",
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def export_reader(model: keras.Model, out_dir: Path, metadata: dict) -> Path:
    """Write `model` as a SavedModel with the serving signature, plus metadata.json, replacing
    `out_dir` atomically enough for a single writer (written beside it, then renamed)."""
    out_dir = Path(out_dir)
    _, height, width, channels = model.input_shape
    staging = out_dir.with_name(out_dir.name + ".tmp-export")
    shutil.rmtree(staging, ignore_errors=True)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda image: {"probs": model(image, training=False)},
        input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="image")],
    )
    archive.write_out(str(staging), verbose=False)
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return out_dir


def export_untrained(out_dir: Path, *, height: int = 32, width: int = 128, seed: int = 0) -> Path:
    """A tiny untrained reader SavedModel for wiring tests (a few seconds). Its readings are
    noise; its shapes, signature and metadata are the real contract."""
    keras.utils.set_random_seed(seed)
    model = build_reader(height, width, widths=(8, 8, 8), rnn_units=8)
    metadata = build_metadata(model, version="untrained-tiny", trained_on="nothing (wiring tests)")
    return export_reader(model, out_dir, metadata)


def load_run_model(run_dir: Path, weights: str = "best.weights.h5") -> tuple[keras.Model, dict]:
    """Rebuild the network of a training run (its config.json) and load `weights` into it:
    a .weights.h5 file in the run dir, or "latest" for the newest training checkpoint's weights
    as validation scores them (the weight average, where the run keeps one: --ema)."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    model = build_reader(config["height"], config["width"], unroll=True)  # same weights, faster serving
    if weights == "latest":
        latest = tf.train.latest_checkpoint(run_dir / "ckpt")
        if latest is None:
            raise FileNotFoundError(f"no checkpoint under {run_dir / 'ckpt'}")
        average = [tf.Variable(v, trainable=False) for v in model.trainable_variables] if config.get("ema") else []
        tf.train.Checkpoint(model=model, **({"average": average} if average else {})).restore(latest).expect_partial()
        for weight, mean in zip(model.trainable_variables, average):
            weight.assign(mean)
        config["exported_checkpoint"] = Path(latest).name
    else:
        model.load_weights(run_dir / weights)
    return model, config


def serving_reader(model: keras.Model, config: dict) -> keras.Model:
    """A run's reader as served: its batch normalisations folded into the convolutions
    (model.fold)."""
    return fold_batch_norms(model, build_reader(config["height"], config["width"], unroll=True, folded=True))


def export_run(run_dir: Path, out_dir: Path, *, version: str, threshold: float = DEFAULT_THRESHOLD,
               metrics: dict | None = None, weights: str = "best.weights.h5") -> Path:
    """Export a training run's weights (best by validation, or "latest") to `out_dir`."""
    model, config = load_run_model(run_dir, weights)
    model = serving_reader(model, config)
    best_path = Path(run_dir) / "best.json"
    best = json.loads(best_path.read_text()) if best_path.exists() else {}
    trained_on = {
        "sources": config["mix"],
        "steps": best.get("step") if weights != "latest" else config.get("exported_checkpoint"),
        "batch_size": config["batch_size"],
        "real_crops": ("haverland_digits train split (sha1 buckets, see model.real_digits)"
                       if "real=" in config["mix"] else None),
        "validation_exact_match": best.get("scores") if weights != "latest" else None,
        "weight_average_decay": config.get("ema") or None,  # best.weights.h5 holds the average
    }
    metadata = build_metadata(model, version=version, threshold=threshold, metrics=metrics,
                              trained_on=trained_on)
    return export_reader(model, out_dir, {**metadata, "serving": SERVING_NOTE})


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Export a training run's best reader as a SavedModel")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--out", required=True, help="e.g. model/shipped/reader")
    parser.add_argument("--version", required=True)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--weights", default="best.weights.h5", help='a .weights.h5 in the run dir, or "latest"')
    args = parser.parse_args(argv)
    print(export_run(Path(args.run_dir), Path(args.out), version=args.version, threshold=args.threshold,
                     weights=args.weights))


if __name__ == "__main__":
    main()

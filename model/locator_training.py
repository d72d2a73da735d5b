"""TensorFlow side of locator training: loss, resumable loop, SavedModel export.

Driven by model/train_locator.py (argument parsing, rendered data, validation metric).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import tensorflow as tf

from model.fold import SERVING_NOTE, fold_batch_norms
from model.locator_net import build_locator
from model.locator_targets import GEOMETRY_SCALE, MAP_CHANNELS, STRIDE
from model.train_locator import (
    TRAIN_SEED,
    VALIDATION_SEED,
    batch_targets,
    rendered_set,
    validation_iou_rate,
)

POSITIVE_WEIGHT = 4.0  # window cells are ~1% of the grid; without this the score collapses to 0
SCORE_THRESHOLD, MIN_SCORE = 0.5, 0.55


def locator_loss(target: tf.Tensor, maps: tf.Tensor) -> tf.Tensor:
    """Weighted BCE on the score + L1 on the geometry of cells inside the window."""
    positive = target[..., 0]
    score = tf.clip_by_value(maps[..., 0], 1e-6, 1 - 1e-6)
    bce = -(POSITIVE_WEIGHT * positive * tf.math.log(score) + (1 - positive) * tf.math.log(1 - score))
    geometry = tf.reduce_sum(tf.abs(target[..., 1:] - maps[..., 1:]), axis=-1)
    geometry = tf.reduce_sum(geometry * positive) / tf.maximum(tf.reduce_sum(positive), 1.0)
    return tf.reduce_mean(bce) * 10.0 + geometry


def train_and_export(args) -> None:
    run_dir: Path = args.run_dir
    model = build_locator(args.input_size)
    checkpoint = run_dir / "last.weights.h5"
    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"step": 0, "best": None}
    if checkpoint.exists():
        model.load_weights(str(checkpoint))
    elif args.init_weights is not None:  # a new phase: fresh schedule, earlier weights
        model.load_weights(str(args.init_weights))
        state["started_from"] = str(args.init_weights)
    if not args.export_only:
        _train(model, args, state, checkpoint, state_path)
    if args.export_dir is not None:
        best = run_dir / "best.weights.h5"
        model.load_weights(str(best if best.exists() else checkpoint))
        export_locator(model, args.export_dir, state, version=args.version)


def _train(model, args, state: dict, checkpoint: Path, state_path: Path) -> None:
    sets = _training_sets(args)
    state.setdefault("trained_on", _describe_sets(args))  # for the export's metadata
    validation = {name: rendered_set(args.run_dir, VALIDATION_SEED, args.validation_scenes, args.input_size,
                                     args.workers, zoomed=name == "zoomed") for name in sets}
    schedule = tf.keras.optimizers.schedules.CosineDecay(args.lr, args.steps, alpha=0.02)
    optimizer = tf.keras.optimizers.Adam(schedule)
    optimizer.iterations.assign(state["step"])
    step_fn = _train_step(model, optimizer)
    predict = tf.function(lambda x: model(x, training=False))
    rng = np.random.default_rng(state["step"])
    log = (args.run_dir / "log.csv").open("a", newline="")
    writer = csv.writer(log)
    started, losses = time.time(), []
    while state["step"] < args.steps:
        images, quads = _sample_batch(sets, args, rng)
        x = images.astype(np.float32)[..., None] / 255.0
        losses.append(float(step_fn(x, batch_targets(quads, args.input_size))))
        state["step"] += 1
        if state["step"] % args.checkpoint_every == 0 or state["step"] == args.steps:
            metrics = _validate(predict, validation)
            rate = (time.time() - started) * 1.0 / max(len(losses), 1)
            row = [state["step"], round(float(np.mean(losses)), 4), metrics["iou50"],
                   metrics["false_finds"], round(rate, 3)]
            writer.writerow(row + ([metrics["zoomed_iou50"]] if "zoomed_iou50" in metrics else []))
            log.flush()
            print(f"step {row[0]} loss {row[1]:.4f} val_iou50 {row[2]:.3f} val_false_finds {row[3]:.3f} s/step {row[4]:.3f}"
                  + "".join(f" {k} {v:.3f}" for k, v in metrics.items() if k.startswith("zoomed")), flush=True)
            model.save_weights(str(checkpoint))
            if state["best"] is None or metrics["selection"] >= state["best"].get("selection", -1.0):
                state["best"] = {"step": state["step"], **metrics}
                model.save_weights(str(args.run_dir / "best.weights.h5"))
            state_path.write_text(json.dumps(state))
            started, losses = time.time(), []
    log.close()


def _training_sets(args) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Whole-photo scenes, and second-pass views when --zoomed-scenes asks for them; with
    --real-digits, --plain-scenes and --plain-zoomed-scenes without real digits joined to them."""
    real = {"real_digits": args.real_digits, "real_share": args.real_share}
    counts = {"scenes": args.scenes, "zoomed": args.zoomed_scenes}
    plain = {"scenes": args.plain_scenes, "zoomed": args.plain_zoomed_scenes} if args.real_digits else {}
    sets = {}
    for name in ("scenes", "zoomed"):
        parts = [rendered_set(args.run_dir, TRAIN_SEED, count, args.input_size, args.workers,
                              zoomed=name == "zoomed", **options)
                 for count, options in ((counts[name], real), (plain.get(name, 0), {})) if count]
        if parts:
            sets[name] = (np.concatenate([images for images, _ in parts]), np.concatenate([quads for _, quads in parts]))
    return sets


def _describe_sets(args) -> str:
    """What _training_sets rendered, in words."""
    def views(count: int) -> str:
        return f" and {count:,} second-pass views" if count else ""

    plain = (args.scenes, args.zoomed_scenes) if args.real_digits is None else (args.plain_scenes,
                                                                                 args.plain_zoomed_scenes)
    parts = [f"{plain[0]:,} rendered whole-photo scenes{views(plain[1])}"] if plain[0] else []
    if args.real_digits is not None:
        parts.append(f"{args.scenes:,} scenes{views(args.zoomed_scenes)} with {args.real_share:g} of the water and "
                     "gas windows showing counters of real training-split digit crops")
    return "model.synth.scenes (seed 1): " + "; ".join(parts)


def _sample_batch(sets: dict, args, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(B, S, S) uint8 images and (B, 4, 2) quads: --zoomed-share of them second-pass views."""
    zoomed = round(args.batch_size * args.zoomed_share) if "zoomed" in sets else 0
    counts = {"scenes": args.batch_size - zoomed, "zoomed": zoomed}
    picks = {name: rng.integers(0, len(images), counts[name]) for name, (images, _) in sets.items()}
    images = np.concatenate([sets[name][0][pick] for name, pick in picks.items()])
    quads = np.concatenate([sets[name][1][pick] for name, pick in picks.items()])
    return turned_upside_down(images, quads, rng.random(len(images)) < args.upside_down_share)


def turned_upside_down(images: np.ndarray, quads: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The views marked in `which` turned 180 degrees, their quads with them (reading order kept,
    so the first digit's corner is still corner 0). The scenes turn meters at most 90 degrees
    either way; without this the locator reads every window turned further from the wrong end."""
    images, quads = images.copy(), quads.copy()
    size = images.shape[1]
    images[which] = images[which][:, ::-1, ::-1]
    quads[which] = size - quads[which]  # NaN (no counter) stays NaN
    return images, quads


def _validate(predict, validation: dict) -> dict:
    """Whole-photo iou50 and false finds, zoomed_* for second-pass views; `selection`, which
    picks the best checkpoint, is the mean iou50 over both kinds of view."""
    def run(images):
        return predict(images.astype(np.float32)[..., None] / 255.0).numpy()

    metrics = validation_iou_rate(run, *validation["scenes"])
    if "zoomed" in validation:
        zoomed = validation_iou_rate(run, *validation["zoomed"])
        metrics.update(zoomed_iou50=zoomed["iou50"], zoomed_false_finds=zoomed["false_finds"])
    metrics["selection"] = float(np.mean([v for k, v in metrics.items() if k.endswith("iou50")]))
    return metrics


def _train_step(model, optimizer):
    @tf.function(reduce_retracing=True)
    def step(x, target):
        with tf.GradientTape() as tape:
            loss = locator_loss(target, model(x, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return step


def export_locator(model, out_dir: Path, state: dict, version: str | None = None) -> Path:
    """SavedModel (serving_default: image (N,S,S,1) float32 -> maps (N,S/4,S/4,9)) + metadata.json,
    the network served with its batch normalisations folded in (model.fold)."""
    size = int(model.input_shape[1])
    serving = fold_batch_norms(model, build_locator(size, folded=True))
    return write_locator(serving, out_dir, locator_metadata(size, state, version))


def write_locator(serving, out_dir: Path, metadata: dict) -> Path:
    """Write a served locator network (build_locator(folded=True), filled by model.fold) with
    `metadata` to `out_dir`."""
    size = int(serving.input_shape[1])
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 1], tf.float32, name="image")])
    def serve(image):
        return {"maps": serving(image, training=False)}

    module = tf.Module()
    module.model = serving
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": serve})
    (out_dir / "metadata.json").write_text(json.dumps(metadata, indent=2))
    return out_dir


def locator_metadata(size: int, state: dict, version: str | None = None) -> dict:
    """metadata.json of a locator exported from a training run's `state`."""
    best = state.get("best") or {}
    return {
        "version": version or (f"locator-{datetime.now(UTC):%Y%m%d}-s{best.get('step', state['step'])}"
                               + (f"-after-{Path(state['started_from']).parent.name}" if "started_from" in state else "")),
        "input_size": size, "stride": STRIDE, "map_channels": MAP_CHANNELS,
        "geometry_scale": GEOMETRY_SCALE, "score_threshold": SCORE_THRESHOLD, "min_score": MIN_SCORE,
        "metrics": {"validation_iou50": best.get("iou50"), "validation_false_finds": best.get("false_finds"),
                    **({"validation_zoomed_iou50": best["zoomed_iou50"]} if "zoomed_iou50" in best else {})},
        "trained_on": state.get("trained_on", "model.synth.scenes (rendered whole-photo scenes, seed 1)"
                                + (" and second-pass views of them" if "zoomed_iou50" in best else ""))
                      + (f"; this phase started from {state['started_from']}" if "started_from" in state else ""),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "serving": SERVING_NOTE,
    }

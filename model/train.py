"""Train the reader with CTC on a mix of synthetic and real-composed counters. Resumable.

    python -m model.train --run-dir runs/reader [--steps N] [--mix drums=0.4,lcd=0.2,real=0.4]

The run dir holds `ckpt/` (model + optimiser + step + weight average, the latest few),
`train.log`, `config.json`, and `best.weights.h5` + `best.json` (best validation exact-match so
far). Re-running the same command resumes from the latest checkpoint.

With `--ema M` the run keeps an exponential moving average of the weights (decay M per step);
validation scores, and `best.weights.h5` holds, the averaged weights, which are less noisy
than the last step's at the same learning rate.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf

from model.network import BLANK_INDEX, build_reader
from model.real_digits import DEFAULT_DATA_DIR
from model.train_data import batch_stream, build_sources, make_batch

log = logging.getLogger("model.train")
DEFAULT_MIX = "drums=0.4,lcd=0.2,real=0.4"


def parse_mix(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in (part.split("=") for part in text.split(","))}


def encode_labels(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Digit strings -> ((N, Lmax) int32 class ids padded with 0, (N,) int32 lengths)."""
    lengths = np.array([len(s) for s in labels], np.int32)
    dense = np.zeros((len(labels), max(lengths.max(), 1)), np.int32)
    for i, s in enumerate(labels):
        dense[i, : len(s)] = [int(c) for c in s]  # class c is digit c; the blank is class 10
    return dense, lengths


def make_train_step(model, optimizer, average=None, decay: float = 0.0):
    """-> a tf.function step. With `average` (variables shaped like the trainable ones) each step
    also moves them towards the new weights: average = decay * average + (1 - decay) * weights."""

    @tf.function(reduce_retracing=True)
    def train_step(images, labels, label_length):
        with tf.GradientTape() as tape:
            probs = model(images, training=True)
            logit_length = tf.fill([tf.shape(probs)[0]], tf.shape(probs)[1])
            loss = tf.nn.ctc_loss(labels, tf.math.log(probs + 1e-8), label_length, logit_length,
                                  logits_time_major=False, blank_index=BLANK_INDEX)
            loss = tf.reduce_mean(loss)
        grads = tape.gradient(loss, model.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        if average is not None:
            for mean, weight in zip(average, model.trainable_variables):
                mean.assign(decay * mean + (1.0 - decay) * weight)
        return loss

    return train_step


def exact_match(model, images: np.ndarray, labels: list[str]) -> float:
    """Greedy exact-match rate of `model` on (N,H,W,1) float32 images."""
    from model.decode import decode_greedy

    probs = model.predict(images, batch_size=256, verbose=0)
    hits = sum("".join(map(str, decode_greedy(p, BLANK_INDEX).labels)) == y for p, y in zip(probs, labels))
    return hits / len(labels)


def make_validation(mix, data_dir, height, width, per_source: int = 500, located_dir=None) -> dict:
    """Fixed validation sets, one per source. Real counters use the held-out crops as they are
    (no augmentation), like the reported held-out test, so the best step is chosen on that."""
    sets = {}
    for name in mix:
        rng = np.random.default_rng(12345)
        sources = build_sources({name: 1.0}, data_dir, split="val", located_dir=located_dir)
        if name == "real":
            sources[0][1].augment = False
        sets[name] = make_batch(rng, sources, per_source, height, width)
    return sets


def train(args) -> None:
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # the log file hangs on this module's logger, so it is written even where logging was
    # configured before (basicConfig is then a no-op), and is closed when the run ends
    to_file = logging.FileHandler(run_dir / "train.log")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(to_file)
    log.setLevel(logging.INFO)
    try:
        _train(args, run_dir)
    finally:
        log.removeHandler(to_file)
        to_file.close()


def _train(args, run_dir: Path) -> None:
    mix = parse_mix(args.mix)
    (run_dir / "config.json").write_text(json.dumps(vars(args), indent=2))
    model = build_reader(args.height, args.width)
    step = tf.Variable(0, dtype=tf.int64)
    schedule = tf.keras.optimizers.schedules.CosineDecay(args.lr, args.steps, alpha=0.05)
    optimizer = tf.keras.optimizers.Adam(schedule)
    if args.init_weights:  # a new phase (new schedule, new mix) starting from earlier weights
        model.load_weights(args.init_weights)
    average = [tf.Variable(v, trainable=False) for v in model.trainable_variables] if args.ema else None
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step,
                               **({"average": average} if average else {}))
    manager = tf.train.CheckpointManager(ckpt, run_dir / "ckpt", max_to_keep=3)
    if manager.latest_checkpoint:  # resuming overrides --init-weights
        ckpt.restore(manager.latest_checkpoint)
        log.info("resumed from %s at step %d", manager.latest_checkpoint, int(step))
    elif args.init_weights:
        log.info("initialised from %s", args.init_weights)
    best_path = run_dir / "best.json"
    best = json.loads(best_path.read_text()) if best_path.exists() else {"score": -1.0}
    validation = make_validation(mix, args.data_dir, args.height, args.width, located_dir=args.located_crops)
    train_step = make_train_step(model, optimizer, average, args.ema)
    stream = batch_stream(mix, args.data_dir, args.batch_size, args.height, args.width,
                          seed=args.seed + int(step), workers=args.workers, located_dir=args.located_crops)
    # SIGTERM (kill PID) exits cleanly: the latest step is checkpointed and the producer
    # processes are stopped. The handler is put back after, since a caller's forked children
    # inherit it (a multiprocessing pool's workers then would not stop when terminated).
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        _loop(args, run_dir, model, step, schedule, manager, train_step, stream, validation, best, average)
    finally:
        manager.save(checkpoint_number=int(step))
        log.info("checkpoint saved at step %d", int(step))
        stream.close()
        signal.signal(signal.SIGTERM, previous)


def _loop(args, run_dir, model, step, schedule, manager, train_step, stream, validation, best, average) -> None:
    started, losses = time.time(), []
    while int(step) < args.steps:
        images, labels = next(stream)
        dense, lengths = encode_labels(labels)
        losses.append(float(train_step(images, dense, lengths)))
        step.assign_add(1)
        if int(step) % args.log_every == 0:
            rate = args.log_every * args.batch_size / (time.time() - started)
            log.info("step %d loss %.4f lr %.2e %.0f img/s", int(step), np.mean(losses),
                     float(schedule(step)), rate)
            started, losses = time.time(), []
        if int(step) % args.eval_every == 0 or int(step) == args.steps:
            manager.save(checkpoint_number=int(step))
            with averaged_weights(model, average):
                best = _validate(model, validation, int(step), best, run_dir)


@contextmanager
def averaged_weights(model, average):
    """Context: the model holds the averaged weights inside, its own again after (no-op if None)."""
    if not average:
        yield
        return
    kept = [v.numpy() for v in model.trainable_variables]
    for weight, mean in zip(model.trainable_variables, average):
        weight.assign(mean)
    try:
        yield
    finally:
        for weight, value in zip(model.trainable_variables, kept):
            weight.assign(value)


def _validate(model, validation: dict, step: int, best: dict, run_dir: Path) -> dict:
    scores = {name: exact_match(model, x, y) for name, (x, y) in validation.items()}
    score = float(np.mean(list(scores.values())))
    log.info("step %d validation exact-match %s mean %.4f", step, {k: round(v, 4) for k, v in scores.items()}, score)
    if score > best["score"]:
        model.save_weights(run_dir / "best.weights.h5")
        best = {"score": score, "step": step, "scores": scores}
        (run_dir / "best.json").write_text(json.dumps(best, indent=2))
        log.info("new best at step %d", step)
    return best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--steps", type=int, default=60000, help="total steps (the LR schedule's length)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--mix", default=DEFAULT_MIX, help="source weights, e.g. drums=0.5,lcd=0.2,real=0.3")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--located-crops", metavar="DIR",
                        help="folder of train*.npz / val*.npz from model.located_crops, for the `located` source")
    parser.add_argument("--height", type=int, default=32)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--workers", type=int, default=1, help="batch producer processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema", type=float, default=0.0,
                        help="weight-average decay per step, e.g. 0.999 (0: validate the raw weights)")
    parser.add_argument("--init-weights", help="start a fresh run from these .weights.h5 (ignored on resume)")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--eval-every", type=int, default=500)
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()

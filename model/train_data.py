"""Training batches: a weighted mix of counter sources, normalised by the serving path, produced
in a separate process so rendering overlaps the train step.

A source is a function `rng -> ((H,W,3) uint8 BGR or (H,W) grey crop, label digits)`.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from model.normalise import to_reader_input
from model.synth.augment import augment_counter
from model.synth.counters import OdometerState, sample_drums, sample_edge_odometer, sample_odometer

Source = Callable[[np.random.Generator], tuple[np.ndarray, str]]


def synthetic_drums(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    image, state = augmented_drums(rng)
    return image, state.label


def augmented_drums(rng: np.random.Generator, odometer=sample_odometer) -> tuple[np.ndarray, OdometerState]:
    """synthetic_drums with the drums' state instead of the label (the held-out report splits
    its drum counters by how far the last drum had turned)."""
    image, state = sample_drums(rng, odometer=odometer)
    return augment_counter(rng, image), state


def synthetic_edge_drums(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """synthetic_drums whose last drum is nearly onto its next digit or has just arrived
    (model.synth.counters.sample_edge_odometer): most of the drum counters the reader gets wrong."""
    image, state = augmented_drums(rng, sample_edge_odometer)
    return image, state.label


def synthetic_lcd(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from model.synth.lcd import sample_lcd_counter

    image, label = sample_lcd_counter(rng)
    return augment_counter(rng, image, strength=0.8), label


class LocatedCrops:
    """A source over the windows the pipeline cut from rendered photos (`model.located_crops`):
    the files `{split}*.npz` of a folder, drawn at random, as they are (the photo already blurred,
    scaled and compressed them)."""

    def __init__(self, folder: str, split: str):
        files = sorted(Path(folder).glob(f"{split}*.npz"))
        if not files:
            raise FileNotFoundError(f"no {split}*.npz in {folder} (python -m model.located_crops writes them)")
        parts = [np.load(f) for f in files]
        self.images = np.concatenate([p["images"] for p in parts])
        self.labels = np.concatenate([p["labels"] for p in parts])

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        index = int(rng.integers(len(self.labels)))
        return self.images[index], str(self.labels[index])


def build_sources(mix: dict[str, float], data_dir: str | None, split: str = "train",
                  located_dir: str | None = None) -> list[tuple[float, Source]]:
    """Name -> weight mapping to (weight, source) pairs. `real` needs `data_dir`, `located`
    needs `located_dir`."""
    sources: list[tuple[float, Source]] = []
    for name, weight in mix.items():
        if weight <= 0:
            continue
        if name == "drums":
            sources.append((weight, synthetic_drums))
        elif name == "edge_drums":
            sources.append((weight, synthetic_edge_drums))
        elif name == "lcd":
            sources.append((weight, synthetic_lcd))
        elif name == "real":
            from model.real_digits import RealCounterSource

            sources.append((weight, RealCounterSource.from_data_dir(data_dir, split)))
        elif name == "located":
            if not located_dir:
                raise ValueError("the located source needs a folder of located crops (--located-crops)")
            sources.append((weight, LocatedCrops(located_dir, split)))
        else:
            raise ValueError(f"unknown source {name!r}")
    return sources


def make_batch(rng, sources, size: int, height: int, width: int) -> tuple[np.ndarray, list[str]]:
    """-> ((size,height,width,1) float32, labels) drawn from the weighted sources."""
    weights = np.array([w for w, _ in sources], np.float64)
    picks = rng.choice(len(sources), size=size, p=weights / weights.sum())
    crops, labels = [], []
    for k in picks:
        crop, label = sources[k][1](rng)
        crops.append(crop)
        labels.append(label)
    return to_reader_input(crops, height, width), labels


def _produce(queue, mix, data_dir, located_dir, size, height, width, seed):
    rng = np.random.default_rng(seed)
    sources = build_sources(mix, data_dir, located_dir=located_dir)
    while True:
        queue.put(make_batch(rng, sources, size, height, width))


def batch_stream(mix, data_dir, size, height, width, seed, workers: int = 1, located_dir=None) -> Iterator:
    """Endless batches from `workers` spawned producer processes (spawn: no TF state is forked).
    Closing the generator stops them."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue(maxsize=16)
    procs = [ctx.Process(target=_produce, args=(queue, mix, data_dir, located_dir, size, height, width, seed + i),
                         daemon=True) for i in range(workers)]
    for p in procs:
        p.start()
    try:
        while True:
            yield queue.get()
    finally:
        for p in procs:
            p.terminate()
            p.join()

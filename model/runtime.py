"""The one door to TensorFlow at serving time: load the model folder once per process and call
its SavedModel signatures in batches.

    model_dir/reader/   SavedModel + metadata.json (required)
    model_dir/locator/  SavedModel + metadata.json (optional; None when absent)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

METADATA_FILE = "metadata.json"
SIGNATURE = "serving_default"
DEFAULT_BATCH_SIZE = 128


class SavedModelRunner:
    """A SavedModel's `serving_default` signature with one input, called in fixed-size chunks.

    `predict(x)` takes (N, ...) float32 and returns {output_name: (N, ...) float32}; an empty
    batch is never sent to TensorFlow.
    """

    def __init__(self, path: Path, batch_size: int = DEFAULT_BATCH_SIZE):
        self.path = Path(path)
        self.metadata: dict = json.loads((self.path / METADATA_FILE).read_text())
        self._loaded = tf.saved_model.load(str(self.path))  # keep a reference: it owns variables
        self._fn = self._loaded.signatures[SIGNATURE]
        (self.input_name,) = self._fn.structured_input_signature[1].keys()
        self.input_spec = self._fn.structured_input_signature[1][self.input_name]
        self.output_names = sorted(self._fn.structured_outputs.keys())
        self.batch_size = batch_size

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", self.path.name))

    def predict_outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.asarray(x, dtype=np.float32)
        expected = tuple(self.input_spec.shape[1:])
        if x.ndim != len(expected) + 1 or any(e is not None and e != a for e, a in zip(expected, x.shape[1:])):
            raise ValueError(f"{self.path.name}: expected input (N, {expected}), got {x.shape}")
        if len(x) == 0:
            return self._empty_outputs()
        chunks = [self._fn(**{self.input_name: tf.constant(x[i : i + self.batch_size])})
                  for i in range(0, len(x), self.batch_size)]
        return {k: np.concatenate([c[k].numpy() for c in chunks]) for k in self.output_names}

    def _empty_outputs(self) -> dict[str, np.ndarray]:
        one = self._fn(**{self.input_name: tf.zeros([1, *self.input_spec.shape[1:]], tf.float32)})
        return {k: np.zeros((0, *v.shape[1:]), np.float32) for k, v in one.items()}


class Reader(SavedModelRunner):
    """The digit reader: (N,H,W,1) float32 in [0,1] -> probs (N,T,C) float32."""

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.metadata["input_height"]), int(self.metadata["input_width"])

    @property
    def alphabet(self) -> str:
        return self.metadata["alphabet"]

    @property
    def blank_index(self) -> int:
        return int(self.metadata["blank_index"])

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N,H,W,1) float32 in [0,1] -> (N,T,C) float32 softmax."""
        return self.predict_outputs(crops)["probs"]


@dataclass(frozen=True)
class Models:
    reader: Reader
    locator: SavedModelRunner | None
    version: str  # stored in every results row


def load_models(model_dir: Path, batch_size: int = DEFAULT_BATCH_SIZE, *, threads: int | None = None) -> Models:
    """Load model_dir/reader (required) and model_dir/locator (if present). Call once per process,
    after fork. `threads`: TensorFlow's intra- and inter-op threads in this process (None: its
    default, every core); only settable before this process's first TensorFlow op."""
    if threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    model_dir = Path(model_dir)
    if not (model_dir / "reader" / METADATA_FILE).is_file():
        raise FileNotFoundError(f"no reader model at {model_dir / 'reader'}")
    reader = Reader(model_dir / "reader", batch_size)
    locator = None
    if (model_dir / "locator" / METADATA_FILE).is_file():
        locator = SavedModelRunner(model_dir / "locator", batch_size)
    version = reader.version if locator is None else f"{reader.version}+{locator.version}"
    return Models(reader=reader, locator=locator, version=version)

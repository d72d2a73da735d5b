"""Whole counters composed from real single-digit crops (../shared/data/haverland_digits).

Crops are de-duplicated by sha1 and split by sha1 *before* composing into train / val (model
selection and threshold calibration) / test (the reported numbers), so validation and test
counters only use crops the model never saw. A counter takes all its crops from one meter type; its label
is each crop's `digit_floor` (billing convention), and by default it is carry-consistent like a real
odometer (see RealCounterSource). Crops with no label (NaN) are dropped.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from model.synth.augment import augment_counter

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the checkout
HAVERLAND = "haverland_digits"
VAL_PERCENT, TEST_PERCENT = 8, 12  # shares of unique crops held out, fixed by sha1
DEFAULT_LENGTHS = {"train": (4, 10), "val": (5, 8), "test": (5, 8)}


def split_of(sha1: str) -> str:
    """'train', 'val' or 'test', fixed by the crop's content hash (stable across runs)."""
    bucket = int(hashlib.sha1(sha1.encode()).hexdigest()[:8], 16) % 100
    if bucket < VAL_PERCENT:
        return "val"
    return "test" if bucket < VAL_PERCENT + TEST_PERCENT else "train"


def load_crop_table(data_dir: Path, split: str) -> list[dict]:
    """labels.csv rows of one split: unique by sha1, labelled, with path made absolute."""
    root = Path(data_dir) / HAVERLAND
    seen, rows = set(), []
    with open(root / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["digit_floor"] in ("", "NaN") or row["sha1"] in seen:
                continue
            seen.add(row["sha1"])
            if split_of(row["sha1"]) == split:
                rows.append({**row, "path": str(root / row["path"])})
    return rows


# Tenths (the t of label d.t) at which a drum is visibly on its way to d + 1, not just resting a
# little off centre: from 3 (rolling_3to7 in labels.csv) up to 9, which already shows d + 1
# almost centred and reads d only because the drum to its right has not yet passed 9 -> 0.
ROLLING = frozenset("3456789")


@dataclass(frozen=True)
class DigitCrop:
    image: np.ndarray  # BGR uint8
    digit: int  # digit_floor: the billing reading of this drum
    roll: str  # tenths rolled towards digit + 1 (the t of label d.t); "whole" for old integer labels

    @property
    def rolling(self) -> bool:
        """Caught between d and d + 1 (see ROLLING)."""
        return self.roll in ROLLING


@dataclass
class RealCounterSource:
    """A counter source (rng -> (BGR uint8 image, label)) over one split's crops.

    Counters are carry-consistent by default, like a real odometer. The last drum may show any
    roll. A drum other than the last turns only while the drum to its right passes 9 -> 0, in
    step with it (DESIGN.md), so a rolling crop (d.3 to d.9) sits left of a 9 rolled as far
    (within a tenth: the nearest this meter type offers), and every other drum rests on a
    digit. The reading is floor(meter value), and that right-hand 9 turning towards 0 is what
    tells a d.9 drum from a freshly arrived (d+1).0 one, which look alike; beside a 9 at rest,
    a drum rests too. Independent crops (`carry_consistent=False`) make counters no meter can
    show: half-turned drums anywhere, and a centred digit that is d or d - 1 at random."""

    crops: dict[str, list[list[DigitCrop]]]  # meter_type -> digit -> crops
    type_weights: dict[str, float]
    lengths: tuple[int, int]
    augment: bool = True  # field augmentations on top of the real crops (training only)
    carry_consistent: bool = True

    @classmethod
    def from_data_dir(cls, data_dir, split: str = "train", lengths: tuple[int, int] | None = None):
        if data_dir is None or not (Path(data_dir) / HAVERLAND / "labels.csv").is_file():
            raise FileNotFoundError(f"no {HAVERLAND}/labels.csv under {data_dir}")
        crops: dict[str, list[list[DigitCrop]]] = {}
        for row in load_crop_table(Path(data_dir), split):
            image = cv2.imread(row["path"], cv2.IMREAD_COLOR)
            if image is None:
                continue
            digit = int(row["digit_floor"])
            roll = row["label"].split(".")[1] if "." in row["label"] else "whole"
            crops.setdefault(row["meter_type"], [[] for _ in range(10)])[digit].append(DigitCrop(image, digit, roll))
        # a type must offer every digit at rest (not rolling), else balanced, carry-consistent
        # sampling is impossible for it
        crops = {t: d for t, d in crops.items() if all(any(not c.rolling for c in pool) for pool in d)}
        weights = {t: float(sum(map(len, d))) for t, d in crops.items()}
        return cls(crops, weights, lengths or DEFAULT_LENGTHS[split])

    def __post_init__(self):
        self._at_rest = {t: [[c for c in pool if not c.rolling] for pool in d] for t, d in self.crops.items()}
        self._rolling = {t: [[c for c in pool if c.rolling] for pool in d] for t, d in self.crops.items()}

    def sample(self, rng: np.random.Generator) -> list[DigitCrop]:
        """One counter's crops, left to right: one meter type, digits uniform per position.
        Drawn right to left, so each drum knows whether the one to its right is carrying it."""
        types = list(self.crops)
        w = np.array([self.type_weights[t] for t in types])
        meter_type = types[rng.choice(len(types), p=w / w.sum())]
        digits = rng.integers(0, 10, int(rng.integers(self.lengths[0], self.lengths[1] + 1)))
        picks: list[DigitCrop] = []
        for k in range(len(digits) - 1, -1, -1):
            digit = int(digits[k])
            pool = self.crops[meter_type][digit]
            if self.carry_consistent and picks:
                right = picks[0]
                carried = right.digit == 9 and right.rolling
                pool = self._in_step(meter_type, digit, right.roll) if carried else self._at_rest[meter_type][digit]
            picks.insert(0, pool[rng.integers(len(pool))])
        return picks

    def _in_step(self, meter_type: str, digit: int, roll: str) -> list[DigitCrop]:
        """Crops of `digit` rolled as far as `roll` (the t of d.t), or the nearest there are;
        the drum at rest where this type has no rolling crop of the digit."""
        rolling = self._rolling[meter_type][digit]
        if not rolling:
            return self._at_rest[meter_type][digit]
        nearest = min(abs(int(c.roll) - int(roll)) for c in rolling)
        return [c for c in rolling if abs(int(c.roll) - int(roll)) <= max(nearest, 1)]

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, list[DigitCrop]]:
        """One composed counter and the crops it was composed from, left to right."""
        picks = self.sample(rng)
        return compose_counter(rng, [c.image for c in picks], self.augment), picks

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        image, picks = self.draw(rng)
        return image, reading_of(picks)

    def fixed_set(self, count: int, seed: int) -> list[tuple[np.ndarray, str]]:
        """`count` composed counters, reproducible from `seed` (augmented only if `self.augment`)."""
        rng = np.random.default_rng(seed)
        return [self(rng) for _ in range(count)]


def reading_of(picks: list[DigitCrop]) -> str:
    """A composed counter's label: each crop's digit_floor, left to right."""
    return "".join(str(c.digit) for c in picks)


def compose_counter(rng: np.random.Generator, crops: list[np.ndarray], augment: bool = True) -> np.ndarray:
    """Digit crops (h_i,w_i,3) uint8 -> one (H,W,3) uint8 counter, side by side at a common
    height, with separator gaps and a margin in the crops' own edge colour."""
    height = int(np.median([c.shape[0] for c in crops]))
    scaled = [cv2.resize(c, (max(2, round(c.shape[1] * height / c.shape[0])), height)) for c in crops]
    gap = int(rng.integers(0, max(1, height // 8)))
    fill = np.median(np.concatenate([c[:, [0, -1]].reshape(-1, 3) for c in scaled]), axis=0)
    parts = []
    for s in scaled:
        parts.append(s)
        parts.append(np.empty((height, gap, 3), np.uint8))
        parts[-1][:] = fill
    counter = np.concatenate(parts[:-1], axis=1)
    margin = int(rng.integers(0, max(1, height // 5)))
    counter = cv2.copyMakeBorder(counter, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=fill.tolist())
    return augment_counter(rng, counter, strength=0.4) if augment else counter

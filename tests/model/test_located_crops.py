"""Located crops: which cut windows may teach the reader, and the training source over them."""

import numpy as np
import pytest

from model.located_crops import holds_true_window
from model.rectify import expand_quad, rotate_quad_180
from model.train_data import LocatedCrops, build_sources

TRUE = np.array([[100, 50], [300, 50], [300, 90], [100, 90]], np.float32)


def test_a_window_a_little_long_or_loose_holds_the_true_one():
    assert holds_true_window(TRUE, TRUE)
    assert holds_true_window(expand_quad(TRUE, 0.12, 0.0), TRUE)
    assert holds_true_window(expand_quad(TRUE, 0.0, 0.3), TRUE)
    assert holds_true_window(TRUE + [3, 5], TRUE)  # 1.5% along, an eighth of the height down


def test_a_window_cut_short_read_backwards_or_off_the_counter_does_not():
    assert not holds_true_window(expand_quad(TRUE, -0.06, 0.0), TRUE)  # a digit lost at each end
    assert not holds_true_window(TRUE + [20, 0], TRUE)  # slid a tenth along: the first digit lost
    assert not holds_true_window(rotate_quad_180(TRUE), TRUE)
    assert not holds_true_window(TRUE + [0, 25], TRUE)  # mostly below the counter


def test_the_located_source_draws_the_split_files_crops_with_their_labels(tmp_path):
    rng = np.random.default_rng(0)
    for name, labels in (("train-a", ["123", "4567"]), ("train-b", ["89"]), ("val", ["000"])):
        images = rng.integers(0, 256, (len(labels), 32, 128), dtype=np.uint8)
        np.savez_compressed(tmp_path / f"{name}.npz", images=images, labels=np.array(labels))
    train = LocatedCrops(str(tmp_path), "train")
    drawn = {train(rng)[1] for _ in range(60)}
    assert drawn == {"123", "4567", "89"}
    image, label = LocatedCrops(str(tmp_path), "val")(rng)
    assert label == "000" and image.shape == (32, 128) and image.dtype == np.uint8
    [(weight, source)] = build_sources({"located": 0.3}, None, located_dir=str(tmp_path))
    assert weight == 0.3 and isinstance(source, LocatedCrops)


def test_the_located_source_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.located_crops"):
        LocatedCrops(str(tmp_path), "train")
    with pytest.raises(ValueError, match="--located-crops"):
        build_sources({"located": 1.0}, None)

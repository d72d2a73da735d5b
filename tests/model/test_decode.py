"""CTC decoder contract tests on random posteriors (pure numpy, no TensorFlow)."""

import itertools

import numpy as np
import pytest

from model.decode import (
    collapse_path,
    decode_constrained,
    decode_greedy,
    labels_to_text,
    path_log_prob,
    text_to_labels,
)


def random_probs(rng, frames, classes, sharpness=3.0):
    logits = rng.normal(0, sharpness, (frames, classes))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def brute_force_best_path(probs, blank, length=None):
    """Exhaustive search over all C^T paths (tiny T only)."""
    best, best_score = None, -np.inf
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        decoded = collapse_path(np.array(path), blank)
        if length is not None and len(decoded.labels) != length:
            continue
        score = path_log_prob(probs, np.array(path))
        if score > best_score:
            best, best_score = decoded, score
    return best, best_score


@pytest.mark.parametrize("blank", [0, 3])
def test_greedy_is_the_best_unconstrained_path(blank):
    rng = np.random.default_rng(1)
    for _ in range(20):
        probs = random_probs(rng, 5, 4)
        expected, _ = brute_force_best_path(probs, blank)
        assert decode_greedy(probs, blank).labels == expected.labels


@pytest.mark.parametrize("blank", [0, 2])
@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_constrained_matches_brute_force(blank, length):
    rng = np.random.default_rng(length * 10 + blank)
    for _ in range(15):
        probs = random_probs(rng, 5, 3)
        expected, expected_score = brute_force_best_path(probs, blank, length)
        decoded = decode_constrained(probs, blank, length)
        assert decoded is not None
        assert len(decoded.labels) == length
        assert path_log_prob(probs, decoded.path) == pytest.approx(expected_score)
        assert decoded.labels == expected.labels


def test_constrained_returns_none_when_no_path_fits():
    rng = np.random.default_rng(0)
    probs = random_probs(rng, 3, 11)
    assert decode_constrained(probs, 10, 4) is None  # 4 labels cannot fit in 3 frames
    # "11" needs a blank between the ones: 3 frames fit 2 equal labels, never 3 of one class
    only_ones = np.full((3, 11), 1e-9)
    only_ones[:, 1] = 1.0
    decoded = decode_constrained(only_ones, 10, 2)
    assert decoded is not None and len(decoded.labels) == 2


def test_blank_index_is_respected():
    probs = np.zeros((6, 11))
    path = [10, 3, 3, 10, 3, 7]
    probs[np.arange(6), path] = 1.0
    assert decode_greedy(probs, 10).labels == (3, 3, 7)
    # the same frames read with blank 3 treat the 3s as separators
    assert decode_greedy(probs, 3).labels == (10, 10, 7)


def test_spans_cover_each_label_run():
    decoded = collapse_path(np.array([10, 4, 4, 10, 10, 2, 2, 2, 10]), 10)
    assert decoded.labels == (4, 2)
    assert decoded.spans == ((1, 3), (5, 8))


def test_labels_to_text_skips_the_blank_in_numbering():
    assert labels_to_text((0, 9, 5), "0123456789", blank_index=10) == "095"
    assert labels_to_text((1, 10, 6), "0123456789", blank_index=0) == "095"
    assert text_to_labels("095", "0123456789", blank_index=10) == (0, 9, 5)
    assert text_to_labels("095", "0123456789", blank_index=0) == (1, 10, 6)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        decode_greedy(np.zeros((4,)), 0)
    with pytest.raises(ValueError):
        decode_greedy(np.zeros((4, 3)), 5)

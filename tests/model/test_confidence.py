"""Sequence confidence is the reading's probability and ranks likely errors low; agreed
confidences combine a window's views; status_for applies the threshold."""

import itertools

import numpy as np

from model.confidence import (
    agreed_confidences,
    digit_confidences,
    label_posteriors,
    status_for,
)
from model.decode import decode_greedy
from model.reading import Status

BLANK = 10


def clean_posteriors(path, peak=0.995):
    probs = np.full((len(path), 11), (1 - peak) / 10)
    probs[np.arange(len(path)), path] = peak
    return probs


def probability(probs, decoded):
    """A read's sequence confidence, as model.read_crops computes it (batched there)."""
    return float(label_posteriors(probs[None], [decoded.labels], BLANK)[0])


def test_clean_sequence_is_confident():
    probs = clean_posteriors([BLANK, 4, BLANK, 2, 2, BLANK, 7, BLANK])
    decoded = decode_greedy(probs, BLANK)
    assert decoded.labels == (4, 2, 7)
    assert probability(probs, decoded) > 0.9
    assert np.allclose(digit_confidences(probs, decoded), 0.995)


def test_ambiguous_digit_ranks_lower():
    clean = clean_posteriors([BLANK, 4, BLANK, 2, BLANK, 7, BLANK])
    doubtful = clean.copy()
    doubtful[3] = 0.0
    doubtful[3, 2], doubtful[3, 3] = 0.55, 0.45  # 2 or 3?
    conf_clean = probability(clean, decode_greedy(clean, BLANK))
    conf_doubtful = probability(doubtful, decode_greedy(doubtful, BLANK))
    assert conf_doubtful < conf_clean
    assert conf_doubtful < 0.6


def test_possible_missing_digit_in_a_gap_ranks_lower():
    clean = clean_posteriors([BLANK, 4, BLANK, BLANK, BLANK, 7, BLANK])
    gap_digit = clean.copy()
    gap_digit[3] = 0.0
    gap_digit[3, BLANK], gap_digit[3, 5] = 0.6, 0.4  # a faint 5 the greedy path skipped
    decoded = decode_greedy(gap_digit, BLANK)
    assert decoded.labels == (4, 7)
    assert probability(gap_digit, decoded) < 0.65
    assert probability(clean, decode_greedy(clean, BLANK)) > 0.9


def test_label_posteriors_sum_every_path_that_collapses_to_the_labels():
    # brute force over all 3^5 frame paths of a 2-symbol alphabet plus blank (index 2)
    probs = np.random.default_rng(0).dirichlet(np.ones(3), 5)
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(3), repeat=5):
        labels = tuple(s for t, s in enumerate(path) if s != 2 and (t == 0 or s != path[t - 1]))
        totals[labels] = totals.get(labels, 0.0) + float(np.prod(probs[np.arange(5), path]))
    got = label_posteriors(np.broadcast_to(probs, (len(totals), 5, 3)), list(totals), 2)
    assert np.allclose(got, list(totals.values()))
    assert np.isclose(sum(totals.values()), 1.0)


def test_agreed_confidence_is_the_geometric_mean_over_views():
    clean = clean_posteriors([BLANK, 4, BLANK, 2, BLANK, 7, BLANK])
    doubtful = clean.copy()
    doubtful[3] = 0.0
    doubtful[3, 2], doubtful[3, 3] = 0.4, 0.6  # this view reads 437
    one, two = (probability(p, decode_greedy(clean, BLANK)) for p in (clean, doubtful))
    agreed, alone, empty = agreed_confidences([([clean, doubtful], (4, 2, 7)), ([clean], (4, 2, 7)), ([clean], ())],
                                              BLANK)
    assert np.isclose(agreed, np.sqrt(one * two)) and agreed < one
    assert np.isclose(alone, one) and empty == 0.0
    assert agreed_confidences([], BLANK) == []


def test_empty_reading_has_zero_confidence():
    probs = clean_posteriors([BLANK] * 5)
    assert agreed_confidences([([probs], decode_greedy(probs, BLANK).labels)], BLANK) == [0.0]


def test_status_for_threshold():
    assert status_for(0.97, 0.95) is Status.ACCEPTED
    assert status_for(0.95, 0.95) is Status.ACCEPTED
    assert status_for(0.94, 0.95) is Status.REVIEW
    assert status_for(None, 0.5) is Status.REVIEW

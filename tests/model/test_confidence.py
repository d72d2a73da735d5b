"""Sequence confidence ranks likely errors low; status_for applies the threshold."""

import numpy as np

from model.confidence import digit_confidences, sequence_confidence, status_for
from model.decode import decode_greedy
from model.reading import Status

BLANK = 10


def clean_posteriors(path, peak=0.98):
    probs = np.full((len(path), 11), (1 - peak) / 10)
    probs[np.arange(len(path)), path] = peak
    return probs


def test_clean_sequence_is_confident():
    probs = clean_posteriors([BLANK, 4, BLANK, 2, 2, BLANK, 7, BLANK])
    decoded = decode_greedy(probs, BLANK)
    assert decoded.labels == (4, 2, 7)
    assert sequence_confidence(probs, decoded, BLANK) > 0.9
    assert np.allclose(digit_confidences(probs, decoded), 0.98)


def test_ambiguous_digit_ranks_lower():
    clean = clean_posteriors([BLANK, 4, BLANK, 2, BLANK, 7, BLANK])
    doubtful = clean.copy()
    doubtful[3] = 0.0
    doubtful[3, 2], doubtful[3, 3] = 0.55, 0.45  # 2 or 3?
    conf_clean = sequence_confidence(clean, decode_greedy(clean, BLANK), BLANK)
    conf_doubtful = sequence_confidence(doubtful, decode_greedy(doubtful, BLANK), BLANK)
    assert conf_doubtful < conf_clean
    assert conf_doubtful < 0.6


def test_possible_missing_digit_in_a_gap_ranks_lower():
    clean = clean_posteriors([BLANK, 4, BLANK, BLANK, BLANK, 7, BLANK])
    gap_digit = clean.copy()
    gap_digit[3] = 0.0
    gap_digit[3, BLANK], gap_digit[3, 5] = 0.6, 0.4  # a faint 5 the greedy path skipped
    decoded = decode_greedy(gap_digit, BLANK)
    assert decoded.labels == (4, 7)
    assert sequence_confidence(gap_digit, decoded, BLANK) < 0.65
    assert sequence_confidence(clean, decode_greedy(clean, BLANK), BLANK) > 0.9


def test_empty_reading_has_zero_confidence():
    probs = clean_posteriors([BLANK] * 5)
    assert sequence_confidence(probs, decode_greedy(probs, BLANK), BLANK) == 0.0


def test_status_for_threshold():
    assert status_for(0.97, 0.95) is Status.ACCEPTED
    assert status_for(0.95, 0.95) is Status.ACCEPTED
    assert status_for(0.94, 0.95) is Status.REVIEW
    assert status_for(None, 0.5) is Status.REVIEW

"""Synthetic counter generator: labels follow the odometer/floor rule, lengths, digit balance."""

import numpy as np
import pytest

from model.synth.counters import (
    EDGE_SHARE,
    MAX_DIGITS,
    MAX_ROLL,
    MIN_DIGITS,
    REST_JITTER,
    ROLLING_EDGE,
    render_drums,
    sample_drum_counter,
    sample_edge_odometer,
    sample_odometer,
)
from model.synth.lcd import sample_lcd_counter, sample_lcd_digits


def test_odometer_carries_turn_only_behind_trailing_nines():
    rng = np.random.default_rng(0)
    rolling_carries = 0
    for _ in range(3000):
        state = sample_odometer(rng, int(rng.integers(MIN_DIGITS, MAX_DIGITS + 1)))
        offsets, digits = np.array(state.offsets), state.digits
        assert ((offsets >= 0) & (offsets < 1)).all()  # floor rule: never turned past the next digit
        for i in range(len(digits) - 1):
            if offsets[i] > REST_JITTER:  # a higher drum mid-roll ...
                assert all(d == 9 for d in digits[i + 1 :])  # ... only while all to its right pass 9
                assert np.allclose(offsets[i + 1 :], offsets[i])  # ... and in step with them
                rolling_carries += 1
    assert rolling_carries > 50  # the generator does produce carries


def test_edge_odometer_puts_its_last_drum_either_side_of_a_digit_and_carries_in_step():
    rng = np.random.default_rng(3)
    rolls, carries = [], 0
    for _ in range(2000):
        state = sample_edge_odometer(rng, int(rng.integers(MIN_DIGITS, MAX_DIGITS + 1)))
        offsets, digits = np.array(state.offsets), state.digits
        rolls.append(offsets[-1])
        nines = next((i for i in range(len(digits) - 2, -1, -1) if digits[i + 1] != 9), -1)
        assert np.allclose(offsets[nines + 1 :], offsets[-1])  # every drum over trailing 9s turns with it
        assert (offsets[: nines + 1] <= REST_JITTER).all()  # the rest stay at rest
        carries += nines < len(digits) - 2
    rolls = np.array(rolls)
    nearly_next, at_rest = rolls >= ROLLING_EDGE, rolls <= REST_JITTER
    assert (nearly_next | at_rest).all() and rolls.max() <= MAX_ROLL
    assert abs(nearly_next.mean() - EDGE_SHARE) < 0.03  # in the odds of sample_odometer's counters:
    natural = np.array([sample_odometer(rng, 6).offsets[-1] for _ in range(4000)])
    natural_edge, natural_rest = np.mean(natural >= ROLLING_EDGE), np.mean(natural <= REST_JITTER)
    assert abs(natural_edge / (natural_edge + natural_rest) - EDGE_SHARE) < 0.03
    assert 0.4 < np.mean(rolls[at_rest] == 0) < 0.6  # at rest: half exactly, half a little past
    assert carries > 20


def test_lengths_and_labels_are_digits():
    rng = np.random.default_rng(1)
    lengths = set()
    for make in (sample_drum_counter, sample_lcd_counter):
        for _ in range(60):
            image, label = make(rng)
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            assert label.isdigit() and MIN_DIGITS <= len(label) <= MAX_DIGITS
            lengths.add(len(label))
    assert lengths == set(range(MIN_DIGITS, MAX_DIGITS + 1))


@pytest.mark.parametrize("sample_digits", [lambda rng, n: sample_odometer(rng, n).digits, sample_lcd_digits])
def test_digits_balanced_across_positions(sample_digits):
    rng = np.random.default_rng(2)
    counts = np.zeros((6, 10))
    for _ in range(4000):
        for position, digit in enumerate(sample_digits(rng, 6)):
            counts[position, int(digit)] += 1
    share = counts / counts.sum(axis=1, keepdims=True)
    # leading zeros are deliberately over-represented in the first positions, never dominant
    assert share[:, 1:].min() > 0.06
    assert share[-1].max() < 0.16  # the last drum: near uniform (9 slightly boosted for carries)


def test_rendering_shows_the_rolled_digit_pair():
    """A drum turned half-way shows the lower half of its digit and the upper half of the next,
    so its pixels differ from the same drum at rest; its label does not change."""
    from model.synth.counters import OdometerState

    rest = render_drums(np.random.default_rng(5), OdometerState((1, 2, 3, 4), (0.0, 0.0, 0.0, 0.0)))
    rolled = render_drums(np.random.default_rng(5), OdometerState((1, 2, 3, 4), (0.0, 0.0, 0.0, 0.5)))
    assert rest.shape == rolled.shape
    width = rest.shape[1]
    assert np.abs(rest[:, : width // 2].astype(int) - rolled[:, : width // 2]).mean() < 1.0
    assert np.abs(rest[:, -width // 5 :].astype(int) - rolled[:, -width // 5 :]).mean() > 5.0


def test_edge_text_sits_beside_the_counter_and_leaves_it_untouched():
    from model.synth.augment import edge_text

    rng = np.random.default_rng(3)
    for _ in range(40):
        counter, _ = sample_lcd_counter(rng, 6)
        out = edge_text(rng, counter)
        h, w = counter.shape[:2]
        assert out.dtype == np.uint8 and out.shape[0] == h and out.shape[1] > w
        added = out.shape[1] - w
        as_left, as_right = out[:, added:], out[:, :w]  # the counter, if the text went left / right
        assert np.array_equal(as_left, counter) or np.array_equal(as_right, counter)


def test_washout_band_fades_the_digits_under_it_and_no_others():
    from model.synth.augment import _washout_band

    rng = np.random.default_rng(5)
    stripes = np.zeros((40, 400, 3), np.float32)
    stripes[:, ::4] = 200.0  # high contrast everywhere
    for _ in range(20):
        out = _washout_band(rng, stripes)
        cells = out[0, :, 0].reshape(-1, 4)  # one lit column in every 4
        per_cell = cells.max(axis=1) - cells.min(axis=1)
        assert per_cell.min() < 0.7 * 200 and (per_cell == 200).any()  # faded under it, intact beside it
        assert out.min() >= 0 and out.max() <= 255


def test_framing_augmentations_keep_the_digit_row_near_the_middle():
    # Which digit a rolling drum shows is read from how far it sits from the window's middle, so
    # tilting and loose crops may move the row only a little: a shift of half a digit would
    # teach the reader a wrong reading.
    from model.synth.augment import crop_jitter, tilt

    counter = np.full((40, 240, 3), 220, np.uint8)
    counter[16:24] = 0  # the digit row, centred
    rng = np.random.default_rng(11)
    for _ in range(100):
        for step in (tilt, crop_jitter):
            out = step(rng, counter)
            dark = (out[:, :, 0] < 110).astype(np.float64)
            rows = np.arange(out.shape[0])[:, None]
            centre = (dark * rows).sum() / dark.sum() / out.shape[0]
            assert abs(centre - 0.5) < 0.06, (step.__name__, centre)


def test_held_out_drums_are_the_training_source_s_counters_with_their_last_drum_roll():
    from model.evaluate import EvalReport
    from model.evaluate_heldout import by_last_drum, drum_set
    from model.train_data import synthetic_drums

    items, rolls = drum_set(6, seed=31)
    rng = np.random.default_rng(31)
    for (image, label), (expected, expected_label) in zip(items, (synthetic_drums(rng) for _ in range(6))):
        assert label == expected_label and np.array_equal(image, expected)
    assert all(0.0 <= roll < 1.0 for roll in rolls)
    report = EvalReport(n=4, exact_match=0.5, per_digit_accuracy=0.9, cer=0.1, coverage_at_995=0.0,
                        accepted_share=0.0, accepted_error=0.0, status_counts={}, confusion={},
                        correct=[True, False, True, False])
    split = by_last_drum(report, [0.1, 0.95, 0.5, 0.3])
    assert split == {"last drum under 0.9": {"n": 3, "exact_match": 0.6667},
                     "last drum 0.9 or more": {"n": 1, "exact_match": 0.0}}

"""The open model's d.t classes become readings as an odometer turns; the comparison reads the
very counters model.evaluate_heldout reports as `real_test`."""

import numpy as np
import pytest

from model.compare_open_model import carry_reading, floor_reading


def test_floor_takes_each_digits_d():
    assert floor_reading([39, 40, 95, 7]) == "3490"


def test_carry_rounds_a_drum_at_rest_and_floors_one_turning_with_a_nine():
    # 3.9 beside 4.0 (at rest, rounds to 4); 2.9 beside 9.8 (turning with it: 2); last drum floored
    assert carry_reading([39, 40, 29, 98]) == "4429"
    assert carry_reading([96, 3]) == "00"  # 9.6 at rest rounds over to 0
    assert carry_reading([58]) == "5"


@pytest.mark.data
def test_the_counters_are_evaluate_heldouts_real_test():
    from model.compare_open_model import real_test_counters
    from model.evaluate_heldout import REAL_TEST_SEED, real_counter_set
    from model.real_digits import DEFAULT_DATA_DIR, HAVERLAND, reading_of

    if not (DEFAULT_DATA_DIR / HAVERLAND).is_dir():
        pytest.skip("no ../shared/data/haverland_digits")
    ours = real_test_counters(DEFAULT_DATA_DIR, 20)
    theirs = real_counter_set(DEFAULT_DATA_DIR, "test", 20, REAL_TEST_SEED)
    for (image, picks), (expected, label) in zip(ours, theirs):
        assert reading_of(picks) == label and np.array_equal(image, expected)

"""Counters composed from real digit crops follow the odometer: a rolling drum (d.3 to d.9) is
the last one or sits left of a 9 rolled as far. Built from tiny stand-in crops, so they run without
../shared; the `data` test checks the real crops' splits and composition when ../shared/data is
there."""

from itertools import pairwise

import numpy as np
import pytest

from model.real_digits import DEFAULT_DATA_DIR, DigitCrop, RealCounterSource


def _source(carry_consistent: bool) -> RealCounterSource:
    def crop(digit: int, roll: str) -> DigitCrop:
        return DigitCrop(np.full((12, 8, 3), 20 * digit, np.uint8), digit, roll)

    pools = [[crop(d, "0"), crop(d, "9"), crop(d, "5"), crop(d, "whole")] for d in range(10)]
    return RealCounterSource({"water": pools}, {"water": 1.0}, (5, 8), augment=False,
                             carry_consistent=carry_consistent)


def _rolling_left_of(source: RealCounterSource, counters: int = 400) -> list[int]:
    """The digit to the right of every rolling crop that has a right neighbour."""
    rng = np.random.default_rng(7)
    right_digits = []
    for _ in range(counters):
        picks = source.sample(rng)
        right_digits += [right.digit for left, right in pairwise(picks) if left.rolling]
    return right_digits


def test_a_rolling_drum_only_sits_left_of_a_nine():
    right_digits = _rolling_left_of(_source(carry_consistent=True))
    assert right_digits and set(right_digits) == {9}


def test_a_drum_turns_in_step_with_the_nine_to_its_right_and_rests_beside_one_at_rest():
    rng = np.random.default_rng(5)
    source = _source(carry_consistent=True)
    pairs = [pair for _ in range(400) for pair in pairwise(source.sample(rng)) if pair[1].digit == 9]
    beside_rolling = [left for left, right in pairs if right.rolling]
    assert beside_rolling and all(left.roll == right.roll for left, right in pairs if right.rolling)
    assert all(not left.rolling for left, right in pairs if not right.rolling)


def test_in_step_falls_back_to_the_nearest_roll_the_type_has():
    def crop(digit: int, roll: str) -> DigitCrop:
        return DigitCrop(np.zeros((12, 8, 3), np.uint8), digit, roll)

    pools = [[crop(d, "0"), crop(d, "3"), crop(d, "4")] for d in range(9)] + [[crop(9, "0"), crop(9, "9")]]
    source = RealCounterSource({"gas": pools}, {"gas": 1.0}, (5, 8), augment=False)
    assert {c.roll for c in source._in_step("gas", 2, "9")} == {"4"}
    assert {c.roll for c in source._in_step("gas", 2, "4")} == {"3", "4"}


def test_independent_crops_break_the_odometer():
    assert set(_rolling_left_of(_source(carry_consistent=False))) > {9}


def test_the_label_is_each_drums_floor_and_the_image_holds_every_crop():
    source = _source(carry_consistent=True)
    image, label = source(np.random.default_rng(3))
    assert 5 <= len(label) <= 8 and label.isdigit()
    assert image.shape[0] >= 12 and image.shape[1] >= 8 * len(label)


def test_every_roll_still_appears_at_the_last_drum():
    rng = np.random.default_rng(11)
    source = _source(carry_consistent=True)
    last_rolls = {source.sample(rng)[-1].roll for _ in range(200)}
    assert last_rolls == {"0", "9", "5", "whole"}


def test_whole_photo_scenes_can_show_real_counters():
    from model.synth.scenes import render_scene

    source = _source(carry_consistent=True)
    for seed in range(4):
        scene = render_scene(np.random.default_rng(seed), 640, 480, kind="water", drum_counters=source)
        assert scene.label.isdigit() and 5 <= len(scene.label) <= 8 and scene.quad is not None


@pytest.mark.data
def test_real_splits_share_no_crop_and_compose_carry_consistent():
    from model.real_digits import HAVERLAND, load_crop_table

    if not (DEFAULT_DATA_DIR / HAVERLAND).is_dir():
        pytest.skip("no ../shared/data/haverland_digits")
    splits = {name: {row["sha1"] for row in load_crop_table(DEFAULT_DATA_DIR, name)}
              for name in ("train", "val", "test")}
    assert all(splits.values())
    assert not (splits["train"] & splits["val"] or splits["train"] & splits["test"] or splits["val"] & splits["test"])
    source = RealCounterSource.from_data_dir(DEFAULT_DATA_DIR, "val", lengths=(5, 8))
    rng = np.random.default_rng(1)
    for _ in range(300):
        picks = source.sample(rng)
        assert all(right.digit == 9 for left, right in pairwise(picks) if left.rolling)


def test_reframed_counters_keep_their_labels_and_move_the_digits_as_asked():
    from model.evaluate_heldout import as_located, frame, reframed

    counter = np.full((40, 200, 3), 200, np.uint8)
    counter[10:30, 20:180] = 0  # the digit row, centred
    above = frame(counter, above=0.25)
    assert above.shape[:2] == (50, 200) and (above[:20] > 100).all() and (above[20:40, 20:180] == 0).all()
    cut = frame(counter, above=-0.25, sides=0.1)
    assert cut.shape[:2] == (30, 240) and (cut[:20, 40:200] == 0).all() and (cut[20:] > 100).all()
    first, second = reframed([(counter, "123"), (counter, "456")], degrees=4.0, above=0.2)
    assert (first[1], second[1]) == ("123", "456") and first[0].shape == second[0].shape == (48, 200, 3)
    assert first[0][8:12, 30].mean() > 100 > second[0][8:12, 30].mean()  # turned opposite ways, shifted opposite ways
    located = as_located([(counter, "123")] * 50, seed=1)
    assert all(label == "123" and image.shape[1] >= 200 for image, label in located)

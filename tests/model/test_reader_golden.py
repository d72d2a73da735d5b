"""Golden checks with the shipped reader: clean synthetic counters from fixed seeds, and the
11 real PHCN LCD crops (data marker: skipped without ../shared/data)."""

from pathlib import Path

import numpy as np
import pytest

from model.real_digits import DEFAULT_DATA_DIR

pytestmark = pytest.mark.model

SHIPPED = Path(__file__).resolve().parents[2] / "model" / "shipped"
PHCN = DEFAULT_DATA_DIR / "phcn_lcd_crops"


@pytest.fixture(scope="module")
def shipped():
    from model.runtime import load_models

    return load_models(SHIPPED)


def clean_counters(count: int, seed: int):
    from model.synth.counters import sample_drum_counter
    from model.synth.lcd import sample_lcd_counter

    rng = np.random.default_rng(seed)
    return [(sample_drum_counter if i % 2 else sample_lcd_counter)(rng) for i in range(count)]


def test_shipped_metadata_is_complete(shipped):
    meta = shipped.reader.metadata
    for key in ("version", "alphabet", "blank_index", "input_height", "input_width", "threshold",
                "metrics", "trained_on"):
        assert key in meta
    assert 0.0 < meta["threshold"] <= 1.0
    calibrations = [meta["metrics"][name] for name in ("calibration", "calibration_whole_photos")]
    assert all(c["risk_upper_bound"] <= 0.005 for c in calibrations)
    assert meta["threshold"] == max(c["threshold"] for c in calibrations)  # the stricter one


def test_clean_synthetic_counters_read_right(shipped):
    from model.read_crops import read_crops

    items = clean_counters(20, seed=31337)
    readings = read_crops([image for image, _ in items], shipped)
    wrong = [(label, r.reading) for (_, label), r in zip(items, readings) if r.reading != label]
    assert not wrong
    assert sum(r.status.value == "accepted" for r in readings) >= 16


def test_eval_command_scores_crops_and_saves_the_risk_coverage_plot(tmp_path):
    import csv
    import re

    import cv2
    from click.testing import CliRunner

    from producer.cli import main

    items = clean_counters(12, seed=4242)
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for k, (image, label) in enumerate(items):
            cv2.imwrite(str(tmp_path / f"c{k}.png"), image)
            writer.writerow([f"c{k}.png", label])
    plot = tmp_path / "rc.png"
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "labels.csv"), "--crop", "--plot", str(plot)],
                                env={"METER_OCR_MODEL_DIR": str(SHIPPED)})
    assert result.exit_code == 0, result.output
    assert re.search(r"^images +12$", result.output, re.MULTILINE)
    exact = float(re.search(r"^exact match +([\d.]+)%$", result.output, re.MULTILINE).group(1))
    assert exact >= 75  # clean synthetic counters: nearly all read right
    assert f"risk-coverage plot: {plot}" in result.output
    assert cv2.imread(str(plot)) is not None


@pytest.mark.data
def test_real_phcn_lcd_crops_never_accepted_wrong(shipped):
    """The real LCD smoke test: no wrong reading is ever accepted, and the ones read right stay
    right (decoded as `meter-ocr read --crop` decodes them). As `read --crop` reads them (three
    framings, model.read_crops.read_crops_checked): 10 of 11 with reader-2.0 and reader-2.2 while
    the surest framing gave the digits, 11 with reader-2.2 since the most probable over the three
    do (two framings read 1639's glare-faded last 9 as 8). As cut,
    one read each (how the pipeline reads each of a photo's window variants): 6 with reader-1.3,
    8 with reader-1.4, 10 with reader-1.6, 9 with reader-1.9, which reads loose crops better, 10
    with reader-2.0, 7 with reader-2.2 (1641 and 1640 read 1647, 1643 read 1543, 1639 read 1638).
    Every misread crop goes to review (confidence 0.68 at most)."""
    if not PHCN.is_dir():
        pytest.skip("no ../shared/data/phcn_lcd_crops")
    from model.evaluate_heldout import phcn_set
    from model.read_crops import read_crops, read_crops_checked

    items = phcn_set(PHCN.parent)
    labels = [label for _, label in items]
    for read, at_least in ((read_crops_checked, 11), (read_crops, 7)):
        readings = read([image for image, _ in items], shipped)
        assert not [r for label, r in zip(labels, readings) if r.status.value == "accepted" and r.reading != label]
        assert sum(r.reading == label for label, r in zip(labels, readings)) >= at_least, read.__name__


@pytest.mark.data
def test_digit_errors_are_counted_per_roll_over_all_drums_and_the_last(shipped):
    if not (DEFAULT_DATA_DIR / "haverland_digits").is_dir():
        pytest.skip("no ../shared/data/haverland_digits")
    from model.evaluate_heldout import digit_errors_by_roll

    report = digit_errors_by_roll(DEFAULT_DATA_DIR, shipped, count=40, seed=5)
    assert sum(r["crops"] for r in report.values()) == 40 * 6
    assert sum(r["last_drum_crops"] for r in report.values()) == 40  # one last drum per counter
    assert all(0 <= r["error_rate"] <= 1 and 0 <= r["last_drum_error_rate"] <= 1 for r in report.values())
    errors = sum(r["crops"] * r["error_rate"] for r in report.values())
    assert errors <= 0.05 * 40 * 6  # the shipped reader gets ~99% of real test digits right


@pytest.mark.data
def test_the_pooled_real_test_scores_every_set_together_and_reports_their_spread(shipped):
    if not (DEFAULT_DATA_DIR / "haverland_digits").is_dir():
        pytest.skip("no ../shared/data/haverland_digits")
    from model.evaluate_heldout import REAL_TEST_SEED, pooled_real_test

    pooled = pooled_real_test(DEFAULT_DATA_DIR, shipped, count=40, sets=3)
    assert pooled["n"] == 120
    assert pooled["seeds"] == [REAL_TEST_SEED, REAL_TEST_SEED + 10, REAL_TEST_SEED + 20]
    low, high = pooled["exact_match_per_set_range"]
    assert low <= pooled["exact_match"] <= high  # equal sets: the pool's rate is their mean
    assert pooled["exact_match"] >= 0.9  # the shipped reader gets ~96.5% of real test counters


def test_a_crop_is_read_in_several_framings_and_accepted_only_if_they_agree():
    # read --crop reads each crop as cut and in read_crops.REFRAMINGS. Threshold 0, so every
    # single read is accepted and only the framings can send a crop to review; counters cut
    # through a digit at one end are the ones whose reading moves.
    from model.normalise import reframe
    from model.read_crops import REFRAMINGS, read_crops, read_crops_checked
    from model.reading import Status
    from model.runtime import load_models

    models = load_models(SHIPPED)
    models.reader.metadata["threshold"] = 0.0
    items = clean_counters(24, seed=99)
    crops = [image if k % 2 else image[:, int(image.shape[1] * 0.12):] for k, (image, _) in enumerate(items)]
    crops.append(np.zeros((2, 2, 3), np.uint8))
    reads = [read_crops(crops[:-1], models)] + [read_crops([reframe(c, shares) for c in crops[:-1]], models)
                                                for shares in REFRAMINGS]
    checked = read_crops_checked(crops, models)
    per_crop = list(zip(*reads))
    moved = [len({r.reading for r in crop_reads}) > 1 for crop_reads in per_crop]
    assert any(moved) and not all(moved)
    for crop_reads, r, m in zip(per_crop, checked, moved):
        if m:  # digits one of the framings read, for a person to confirm
            assert r.reading in {read.reading for read in crop_reads}
            assert (r.status, r.reason) == (Status.REVIEW, "reading changes with the framing")
        else:  # the same digits in every framing: the geometric mean of the three reads' confidences
            surest = max(crop_reads, key=lambda read: read.confidence)
            mean = float(np.exp(np.mean(np.log([read.confidence for read in crop_reads]))))
            assert (r.reading, r.status) == (crop_reads[0].reading, Status.ACCEPTED)
            assert r.confidence == pytest.approx(mean, abs=2e-6)
            assert min(read.confidence for read in crop_reads) - 1e-6 <= r.confidence <= surest.confidence + 1e-6
    assert checked[-1].status is Status.UNREADABLE


def test_the_reading_is_the_digits_most_probable_over_the_framings():
    # One framing reads "13" surely, two read "12" less surely: "12" is the more probable over all
    # three (their geometric mean), so it is the reading, not the surest framing's "13".
    from model.confidence import agreed_confidences
    from model.read_crops import _most_probable
    from model.reading import Reading, Status

    def view(third: str, p: float) -> np.ndarray:
        other = "2" if third == "3" else "3"
        probs = np.full((5, 11), 1e-4, np.float32)
        for t, (label, q) in enumerate([("1", 0.99), (None, 0.99), (third, p), (None, 0.99), (None, 0.99)]):
            probs[t, 10 if label is None else int(label)] = q
        probs[2, int(other)] = 1 - p
        return probs / probs.sum(axis=1, keepdims=True)

    views = [view("3", 0.9), view("2", 0.85), view("2", 0.85)]
    reads = [Reading(Status.REVIEW, "13", 0.88), Reading(Status.REVIEW, "12", 0.83), Reading(Status.REVIEW, "12", 0.84)]
    blank = Reading.failed(Status.UNREADABLE, "no digits read")
    chosen = _most_probable([reads, [blank, blank, blank]], [views, [None, None, None]], "0123456789", 10)
    twelve, thirteen = agreed_confidences([(views, [1, 2]), (views, [1, 3])], 10)
    assert thirteen < twelve
    assert chosen == [(reads[2], round(twelve, 6)), None]  # the surer read of "12" gives the digits' view


def test_only_the_agreed_confidence_can_accept_a_crop():
    # The threshold is calibrated on confidences agreed over the framings: one framing read more
    # surely may give the reading, never the acceptance.
    from model.read_crops import MIN_TRUSTED_HEIGHT, _settle
    from model.reading import Reading, Status

    as_cut = Reading(Status.REVIEW, "1234", 0.95, "confidence below threshold")
    same, other = Reading(Status.ACCEPTED, "1234", 0.999), Reading(Status.ACCEPTED, "1284", 0.9995)
    assert _settle([as_cut, same, same], (same, 0.98), 0.97, 40) == Reading(Status.ACCEPTED, "1234", 0.98)
    assert _settle([as_cut, same, same], (same, 0.96), 0.97, 40) == Reading(Status.REVIEW, "1234", 0.96,
                                                                           "confidence below threshold")
    assert _settle([as_cut, other, same], (other, 0.98), 0.97, 40) == Reading(Status.REVIEW, "1284", 0.98,
                                                                             "reading changes with the framing")
    small = _settle([same, same, same], (same, 0.999), 0.97, MIN_TRUSTED_HEIGHT - 1)
    assert small.status is Status.REVIEW and "too small" in small.reason
    blank = Reading.failed(Status.UNREADABLE, "no digits read")
    assert _settle([blank, blank, blank], None, 0.97, 40) == blank
    unsure = Reading(Status.REVIEW, "77", 0.6, "confidence below threshold")
    assert _settle([blank, unsure, unsure], (unsure, 0.2), 0.97, 40) == Reading(Status.REVIEW, "77", 0.2,
                                                                              "confidence below threshold")

"""Threshold choice from the risk-coverage curve and the evaluation report (pure numpy)."""

import numpy as np
import pytest

from model.calibrate import choose_threshold, coverage_at_risk, risk_coverage
from model.evaluate import GAP, align, score_readings
from model.reading import DigitConfidence, Reading, Status


def test_risk_coverage_orders_by_confidence_with_errors_first_on_ties():
    thresholds, coverage, risk = risk_coverage([0.9, 0.5, 0.9, 0.1], [True, True, False, True])
    assert list(thresholds) == [0.9, 0.9, 0.5, 0.1]
    assert list(coverage) == [0.25, 0.5, 0.75, 1.0]
    assert risk[0] == 1.0  # the tied error is counted first (pessimistic)


def test_threshold_keeps_accepted_error_within_budget():
    rng = np.random.default_rng(0)
    confidences = rng.random(4000)
    # errors only below 0.3 confidence: everything above is safe to accept
    correct = ~((confidences < 0.3) & (rng.random(4000) < 0.5))
    calibration = choose_threshold(confidences, correct, max_risk=0.005)
    accepted = confidences >= calibration.threshold
    assert (~correct[accepted]).mean() <= 0.005
    assert 0.69 < accepted.mean() < 0.75  # accepts (about) everything above the error zone
    assert calibration.coverage == pytest.approx(accepted.mean())


def test_no_safe_threshold_accepts_nothing():
    confidences = np.linspace(0, 1, 200)
    correct = np.zeros_like(confidences, bool)
    calibration = choose_threshold(confidences, correct)
    assert (confidences >= calibration.threshold).sum() == 0
    assert coverage_at_risk(confidences, correct) == 0.0


def test_one_confident_error_does_not_block_a_large_safe_set():
    confidences = np.linspace(1, 0, 1000)
    correct = np.ones(1000, bool)
    correct[0] = False  # the most confident reading is wrong; 1 in 1000 is within 0.5%
    calibration = choose_threshold(confidences, correct)
    assert calibration.coverage == 1.0 and calibration.risk == pytest.approx(0.001)


def test_alignment_and_report():
    assert align("1234", "1234") == [("1", "1"), ("2", "2"), ("3", "3"), ("4", "4")]
    assert align("1234", "124") == [("1", "1"), ("2", "2"), ("3", GAP), ("4", "4")]
    assert align("12", "172") == [("1", "1"), (GAP, "7"), ("2", "2")]

    def reading(text, conf, status):
        return Reading(status=status, reading=text, confidence=conf,
                       digits=tuple(DigitConfidence(d, conf) for d in text))

    readings = [reading("0042", 0.99, Status.ACCEPTED), reading("0043", 0.95, Status.ACCEPTED),
                reading("771", 0.2, Status.REVIEW), Reading.failed(Status.UNREADABLE, "no digits read")]
    report = score_readings(readings, ["0042", "0042", "7717", "55"])
    assert report.exact_match == 0.25
    assert report.cer == pytest.approx((1 + 1 + 2) / 14)
    assert report.per_digit_accuracy == pytest.approx(10 / 14)
    assert report.accepted_share == 0.5 and report.accepted_error == 0.5
    assert report.confusion["2"]["3"] == 1 and report.confusion["5"][GAP] == 2
    assert report.status_counts == {"accepted": 2, "review": 1, "unreadable": 1}


def test_the_threshold_needs_evidence_not_just_a_low_measured_risk():
    confidences = np.linspace(1, 0, 1000)
    correct = np.ones(1000, bool)
    correct[[250, 500, 999]] = False  # 0.3% measured on 1000: within 0.5%, but little evidence
    assert choose_threshold(confidences, correct, z=0.0).coverage == 1.0
    bounded = choose_threshold(confidences, correct)
    assert bounded.coverage < 1.0 and bounded.risk_upper_bound <= 0.005
    # with ten times the evidence at the same measured risk, the bound lets it all through
    many = np.ones(10000, bool)
    many[5::334] = False  # 0.3% again
    assert choose_threshold(np.linspace(1, 0, 10000), many).coverage == pytest.approx(1.0, abs=0.01)


def test_the_strictest_calibration_sets_the_threshold(tmp_path):
    import json

    from model.calibrate import Calibration, write_threshold

    (tmp_path / "metadata.json").write_text(json.dumps({"version": "r", "threshold": 0.9, "metrics": {"x": 1}}))
    counters = Calibration(0.95, 0.6, 0.003, 6000, 0.005, 0.0045)
    photos = Calibration(0.99, 0.5, 0.001, 1500, 0.005, 0.0040)
    metadata = write_threshold(tmp_path, {"calibration": (counters, "counters"),
                                          "calibration_whole_photos": (photos, "photos")})
    stored = json.loads((tmp_path / "metadata.json").read_text())
    assert stored == metadata and stored["threshold"] == 0.99
    assert stored["metrics"]["calibration"]["threshold"] == 0.95 and stored["metrics"]["calibration"]["data"] == "counters"
    assert stored["metrics"]["calibration_whole_photos"]["n"] == 1500 and stored["metrics"]["x"] == 1


@pytest.mark.model
@pytest.mark.data
def test_whole_calibration_photos_include_close_ups_after_the_field_photos():
    # Close-ups accepted more wrong than the field photos the threshold was calibrated on, so the
    # whole-photo set holds them too: counters, then close-ups, then photos without a counter.
    from model.calibrate import validation_photos
    from model.real_digits import DEFAULT_DATA_DIR

    if not (DEFAULT_DATA_DIR / "haverland_digits").is_dir():
        pytest.skip("no ../shared/data/haverland_digits")
    photos = list(validation_photos(DEFAULT_DATA_DIR, count=6, negatives=2, close_ups=6))
    shares = [np.linalg.norm(quad[1] - quad[0]) / width for _, _, _, quad, width in photos[:12]]
    assert all(label for _, _, label, _, _ in photos[:12])
    assert np.mean(shares[6:]) > np.mean(shares[:6]) + 0.15  # close-ups: 0.4-0.75 of the width against 0.15-0.4
    assert [label for _, _, label, _, _ in photos[12:]] == [None, None]

"""Golden photos through the SHIPPED reader and locator (model tier).

Held-out sample photos (a seed neither locator training nor validation used) written by
`write_samples`, decoded and read exactly as a worker does. Photos without a counter must
never come out `accepted`.

Floors, not goals: with reader-0.2-mix-step5000 + locator-20261121-s4000 these 16 photos read
7 exactly right (issue 4's goal is 97%); the floor catches a broken stage (a wrong rectify or
letterbox mapping reads ~0), and should rise as the models do.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from model.reading import Status

pytestmark = pytest.mark.model

SHIPPED = Path(__file__).resolve().parents[2] / "model" / "shipped"
GOLDEN_SEED = 4242


@pytest.fixture(scope="module")
def shipped_models():
    if not (SHIPPED / "locator" / "metadata.json").is_file() or not (SHIPPED / "reader" / "metadata.json").is_file():
        pytest.skip("no shipped reader+locator in model/shipped")
    from model.runtime import load_models

    return load_models(SHIPPED)


def _decode_folder(folder: Path, labels_path: Path):
    """The labels' rows and their photos, decoded as a worker decodes them."""
    from model.image_io import decode_image
    from model.pipeline import DEFAULT_DECODE_GREY, DEFAULT_DECODE_MAX_SIDE

    with labels_path.open() as handle:
        rows = list(csv.DictReader(handle))
    return rows, [decode_image((folder / r["path"]).read_bytes(), max_bytes=50_000_000, max_pixels=50_000_000,
                               target_max_side=DEFAULT_DECODE_MAX_SIDE, grey=DEFAULT_DECODE_GREY) for r in rows]


def _read_folder(folder: Path, labels_path: Path, models):
    from model.pipeline import read_images

    rows, images = _decode_folder(folder, labels_path)
    return rows, read_images(images, models)


def test_sample_photos_read_correctly(shipped_models, tmp_path):
    from model.samples import write_samples

    labels_path = write_samples(tmp_path, 16, seed=GOLDEN_SEED)
    rows, readings = _read_folder(tmp_path, labels_path, shipped_models)
    correct = sum(r.reading == row["label"] for row, r in zip(rows, readings))
    assert all(r.status in (Status.ACCEPTED, Status.REVIEW, Status.UNREADABLE) for r in readings)
    assert correct >= 6, [(row["label"], r.reading, r.status.value) for row, r in zip(rows, readings)]
    # Not asserted here: "no accepted reading is wrong". With reader-0.2 one of these 16 is
    # accepted wrong (751481 read 757487); the accepted error rate is measured on 300 held-out
    # scenes by model.evaluate_scenes (2.4%, over the 0.5% budget) and is the reader's calibration.


def test_phone_heic_photos_read_like_their_jpegs(shipped_models, tmp_path):
    # iPhones save HEIC: the same photos re-saved as HEIC must read as the JPEGs do (a lossy
    # re-encode may move a borderline last digit, hence one of 8 allowed to differ).
    from PIL import Image

    from model.samples import write_samples

    labels_path = write_samples(tmp_path, 8, seed=GOLDEN_SEED)
    rows, jpeg_readings = _read_folder(tmp_path, labels_path, shipped_models)
    with (tmp_path / "heic.csv").open("w") as handle:
        handle.write("path,label\n")
        for row in rows:
            heic = Path(row["path"]).with_suffix(".heic")
            Image.open(tmp_path / row["path"]).save(tmp_path / heic, "HEIF", quality=90)
            handle.write(f"{heic},{row['label']}\n")
    _, heic_readings = _read_folder(tmp_path, tmp_path / "heic.csv", shipped_models)
    same = sum(h.reading == j.reading for h, j in zip(heic_readings, jpeg_readings))
    assert same >= 7, [(j.reading, h.reading) for j, h in zip(jpeg_readings, heic_readings)]
    assert sum(h.reading == row["label"] for h, row in zip(heic_readings, rows)) >= 5


def test_photos_without_counter_are_never_accepted(shipped_models, tmp_path):
    from model.samples import write_samples

    labels_path = write_samples(tmp_path, 16, seed=GOLDEN_SEED + 1, negatives=1.0)
    _, readings = _read_folder(tmp_path, labels_path, shipped_models)
    assert all(r.status != Status.ACCEPTED for r in readings)
    assert sum(r.status == Status.UNREADABLE for r in readings) >= 12


def test_scene_report_lists_every_wrong_accepted_reading(shipped_models):  # skips without them
    # The held-out scene report names each wrong `accepted` reading (a few of them decide whether
    # a reader may ship), and the list agrees with its counts. The threshold is dropped to 0 so
    # that 40 photos hold some (seed 9001 holds one with the shipped models).
    from model.evaluate_scenes import DEFAULT_SIZES, evaluate, scene_photos, summarise, wrong_summary
    from model.runtime import load_models
    from model.synth.scenes import METER_KINDS, NEGATIVE_KINDS

    models = load_models(SHIPPED)
    models.reader.metadata["threshold"] = 0.0
    wrong: list[dict] = []
    every_wrong: list[dict] = []
    tallies = evaluate(models, scene_photos(9001, 40, METER_KINDS, DEFAULT_SIZES, 90.0), accepted_wrong=wrong,
                       wrong=every_wrong)
    tallies |= evaluate(models, scene_photos(9002, 8, NEGATIVE_KINDS, DEFAULT_SIZES, 90.0), accepted_wrong=wrong,
                        wrong=every_wrong)
    summary = summarise(tallies)
    counted = sum(t["accepted_wrong"] for kind, t in tallies.items() if kind in METER_KINDS)
    assert wrong and len(wrong) == counted + summary["all_negatives"]["accepted"]
    assert all(w["reading"] != w["label"] for w in wrong)
    # --list-wrong's list: every photo with a counter read wrong, whatever its status, and only those
    assert len(every_wrong) == round(40 * (1 - summary["all_meters"]["exact_match"])) >= counted
    assert all(w["label"] is not None and w["reading"] != w["label"] for w in every_wrong)
    assert {(w["label"], w["reading"]) for w in wrong if w["label"]} <= {(w["label"], w["reading"]) for w in every_wrong}
    assert sum(counts["photos"] for counts in wrong_summary(every_wrong).values()) == len(every_wrong)


def test_whole_photo_calibration_scores_what_only_the_threshold_would_stop(shipped_models):
    # The whole-photo calibration scores exactly the readings the pipeline accepts at threshold
    # 0 (as the scene report counts them), a photo without a counter as wrong, and leaves the
    # models' threshold as it found it.
    from model.calibrate import whole_photo_scores
    from model.evaluate_scenes import DEFAULT_SIZES, evaluate, scene_photos
    from model.runtime import load_models
    from model.synth.scenes import METER_KINDS, NEGATIVE_KINDS

    def photos():
        yield from scene_photos(31337, 24, METER_KINDS, DEFAULT_SIZES, 90.0)
        yield from scene_photos(31338, 8, NEGATIVE_KINDS, DEFAULT_SIZES, 90.0)

    models = load_models(SHIPPED)
    threshold = models.reader.threshold
    confidences, correct = whole_photo_scores(models, photos())
    assert models.reader.threshold == threshold
    models.reader.metadata["threshold"] = 0.0
    wrong: list[dict] = []
    tallies = evaluate(models, photos(), accepted_wrong=wrong)
    assert len(confidences) == sum(t["status_accepted"] for t in tallies.values()) > 0
    assert correct.count(False) == len(wrong)
    assert sorted(round(c, 5) for c, ok in zip(confidences, correct) if not ok) == sorted(w["confidence"] for w in wrong)


def test_only_unsettled_windows_are_read_again(shipped_models, tmp_path, monkeypatch):
    # A window whose first two reads (as found, 0.2 longer) settle (agree, `accepted`, at least
    # DEFAULT_SETTLED_CONFIDENCE sure) is not read at the check lengths; every other window is,
    # and is decided on all four reads as if they had been read together.
    from model.normalise import to_gray
    from model.pipeline import (
        CHECK_GROWTHS,
        DEFAULT_SETTLED_CONFIDENCE,
        FIRST_GROWTHS,
        candidate_quads,
        choose_reading,
        find_windows,
        read_images,
        read_windows,
    )
    from model.samples import write_samples

    labels_path = write_samples(tmp_path, 16, seed=GOLDEN_SEED)
    _, images = _decode_folder(tmp_path, labels_path)
    calls = _count_reader_calls(shipped_models, monkeypatch)
    readings = read_images(images, shipped_models)
    images = [to_gray(image) for image in images]
    boxes = {i: box for i, box in enumerate(find_windows(images, shipped_models, None)) if box is not None}
    first = read_windows(images, boxes, FIRST_GROWTHS, shipped_models, None)
    every = read_windows(images, boxes, FIRST_GROWTHS + CHECK_GROWTHS, shipped_models, None)
    settled = set()
    for i, by_end in first.items():
        reading = choose_reading(list(by_end.values()))
        if reading.status == Status.ACCEPTED and reading.confidence >= DEFAULT_SETTLED_CONFIDENCE:
            settled.add(i)
    assert settled and len(settled) < len(boxes)
    assert calls[:2] == [sum(len(candidate_quads(box, FIRST_GROWTHS)) for box in boxes.values()),
                         sum(len(candidate_quads(box, CHECK_GROWTHS)) for i, box in boxes.items() if i not in settled)]
    for i in boxes:
        expected = choose_reading(list((first if i in settled else every)[i].values()))
        assert (readings[i].reading, readings[i].status, readings[i].confidence) == (
            expected.reading, expected.status, expected.confidence)


def test_the_windows_read_do_not_depend_on_the_threshold(shipped_models, tmp_path, monkeypatch):
    # Whole-photo calibration reads at threshold 0 what ships at the calibrated one: that holds
    # only if a photo gets the same reads at both.
    from model.pipeline import read_images
    from model.samples import write_samples

    labels_path = write_samples(tmp_path, 16, seed=GOLDEN_SEED)
    _, images = _decode_folder(tmp_path, labels_path)
    calls = _count_reader_calls(shipped_models, monkeypatch)
    shipped = read_images(images, shipped_models)
    monkeypatch.setitem(shipped_models.reader.metadata, "threshold", 0.0)
    at_zero = read_images(images, shipped_models)
    assert len(calls) == 4 and calls[1] > 0 and calls[:2] == calls[2:]  # some windows read again, at both
    assert [(r.reading, r.confidence) for r in shipped] == [(r.reading, r.confidence) for r in at_zero]


def _count_reader_calls(models, monkeypatch) -> list[int]:
    """The batch size of each reader call, until the test ends."""
    calls: list[int] = []
    predict = models.reader.predict
    monkeypatch.setattr(models.reader, "predict", lambda crops: calls.append(len(crops)) or predict(crops))
    return calls

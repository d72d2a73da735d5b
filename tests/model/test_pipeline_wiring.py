"""read_images wiring with tiny UNTRAINED reader and locator SavedModels (model tier).

Their outputs are noise; what is checked is the contract: one Reading per photo in order,
triage reasons, the no-locator and fixed-window paths, profile values, the crop path.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.reading import FINAL_STATUSES, Status
from model.synth.scenes import render_scene

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    from model.export import export_untrained
    from model.locator_net import build_locator
    from model.locator_training import export_locator

    root = tmp_path_factory.mktemp("models")
    export_untrained(root / "with_locator" / "reader")
    export_locator(build_locator(), root / "with_locator" / "locator", {"step": 0, "best": None})
    export_untrained(root / "reader_only" / "reader")
    return root


@pytest.fixture(scope="module")
def models(model_dirs):
    from model.runtime import load_models

    return load_models(model_dirs / "with_locator")


def _photos():
    rng = np.random.default_rng(0)
    meters = [render_scene(rng, 640, 480, kind=k).image for k in ("water", "gas", "lcd")]
    black = np.zeros((480, 640, 3), np.uint8)
    blank = np.full((3000, 4000, 3), 180, np.uint8)
    return [meters[0], black, meters[1], blank, meters[2]]


def test_one_reading_per_photo_in_order(models):
    from model.pipeline import read_images

    readings = read_images(_photos(), models)
    assert len(readings) == 5
    assert all(r.status in FINAL_STATUSES and r.model_version == models.version for r in readings)
    assert (readings[1].status, readings[1].reason) == (Status.UNREADABLE, "too dark")
    assert (readings[3].status, readings[3].reason) == (Status.UNREADABLE, "blank image")
    for reading in (readings[0], readings[2], readings[4]):  # noise, but a real outcome
        assert reading.status != Status.ERROR
        assert reading.reading is None or reading.reading.isdigit()


def test_empty_list(models):
    from model.pipeline import read_images

    assert read_images([], models) == []


def test_without_locator_whole_photos_are_unreadable_and_say_why(model_dirs):
    from model.pipeline import NO_LOCATOR_REASON, read_images
    from model.runtime import load_models

    models = load_models(model_dirs / "reader_only")
    readings = read_images(_photos()[:2], models)
    assert readings[0].status == Status.UNREADABLE and readings[0].reason == NO_LOCATOR_REASON
    assert readings[1].reason == "too dark"  # triage still speaks first


def test_fixed_window_profile_skips_the_locator(model_dirs):
    from model.pipeline import NO_LOCATOR_REASON, read_images
    from model.profiles import parse_profile
    from model.runtime import load_models

    models = load_models(model_dirs / "reader_only")
    profile = parse_profile("name=cam,digits=6,decimals=2,window=0.3:0.4:0.7:0.5")
    (reading,) = read_images(_photos()[:1], models, profile=profile)
    assert reading.reason != NO_LOCATOR_REASON and reading.status != Status.ERROR
    if reading.reading is not None and len(reading.reading) == 6:
        assert reading.value == f"{reading.reading[:4]}.{reading.reading[4:]}"


def test_crop_path_reads_crops_directly(models):
    from model.pipeline import read_images

    crops = [np.full((40, 160, 3), 200, np.uint8), np.zeros((2, 2, 3), np.uint8)]
    readings = read_images(crops, models, crop=True)
    assert len(readings) == 2 and readings[1].status == Status.UNREADABLE


def test_unsure_location_or_unstable_reading_never_auto_accepts():
    from model.locate import CounterBox
    from model.pipeline import SHORT_READING_REASON, _trusted, choose_reading
    from model.reading import Reading

    sure = CounterBox(np.zeros((4, 2), np.float32), score=0.95, orientation_confidence=0.2)
    unsure = CounterBox(np.zeros((4, 2), np.float32), score=0.6, orientation_confidence=0.9)
    accepted = Reading(Status.ACCEPTED, reading="1234", confidence=0.99)
    assert _trusted(accepted, sure).status == Status.ACCEPTED
    assert _trusted(accepted, unsure).status == Status.REVIEW
    short = Reading(Status.ACCEPTED, reading="044", confidence=0.999)  # printed text, not a counter
    assert (_trusted(short, sure).status, _trusted(short, sure).reason) == (Status.REVIEW, SHORT_READING_REASON)
    assert _trusted(short, sure, digits=3).status == Status.ACCEPTED  # a profile says 3 digits
    flipped = Reading(Status.ACCEPTED, reading="4321", confidence=0.97)
    both = choose_reading([[accepted], [flipped]])  # each end read accepts different digits
    assert (both.reading, both.status) == ("1234", Status.REVIEW)
    agreeing = Reading(Status.REVIEW, reading="1234", confidence=0.8)
    other = Reading(Status.REVIEW, reading="12345", confidence=0.5)
    assert choose_reading([[agreeing, accepted, agreeing], [other]]) == accepted
    gained = choose_reading([[other, accepted, agreeing]])  # a grown window gains a digit
    assert (gained.reading, gained.status) == ("1234", Status.REVIEW)
    lone = choose_reading([[accepted, Reading(Status.REVIEW, reading="1284", confidence=0.7)]])
    assert (lone.reading, lone.status) == ("1234", Status.REVIEW)
    assert choose_reading([[accepted]]) == accepted


def test_a_box_cut_short_reads_what_most_of_its_windows_read():
    """The box loses the first digit and reads the rest very surely; every grown window reads
    it: the reading is the grown windows' and, as the windows disagree, it goes to review."""
    from model.pipeline import choose_reading
    from model.reading import Reading

    short = Reading(Status.ACCEPTED, reading="234", confidence=0.999)
    grown = [Reading(Status.REVIEW, reading="1234", confidence=c) for c in (0.9, 0.95, 0.8)]
    chosen = choose_reading([[short, *grown]])
    assert (chosen.reading, chosen.confidence, chosen.status) == ("1234", 0.95, Status.REVIEW)
    tie = choose_reading([[short, grown[0]]])  # one read each: the more confident wins
    assert (tie.reading, tie.status) == ("234", Status.REVIEW)

"""Whole photos -> readings: triage -> locate -> rectify -> read_crops, batched per call.

The orchestrator only routes: every stage is a plain function in its own module. A photo that
triage rejects or where no counter is found ends `unreadable` with the reason (a re-shoot, not
a review). The reader runs at most twice per call, each time for all the windows of the call
that need reading (FIRST_GROWTHS, then CHECK_GROWTHS). Every stage works on grey pixels
(the locator and the reader were trained on grey), so a photo becomes grey once, up front, or
is decoded straight to grey (DEFAULT_DECODE_GREY).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from model.locate import CounterBox, locate_counters
from model.normalise import to_gray
from model.profiles import MeterProfile, format_value
from model.read_crops import read_crops, read_crops_checked
from model.reading import Reading, Status
from model.rectify import expand_quad, rectify, rotate_quad_180
from model.triage import triage

if TYPE_CHECKING:
    from model.runtime import Models

DEFAULT_DECODE_MAX_SIDE = 1000  # what decode_image's target_max_side should be for this pipeline
DEFAULT_DECODE_GREY = True  # what decode_image's grey should be for this pipeline
DEFAULT_SURE_ORIENTATION = 0.5  # below this, both ends are read and the more confident wins
DEFAULT_SURE_LOCATION = 0.8  # a window found less surely than this is never `accepted`
# The windows read: the box grown by these shares of its length, each end (0: as found). The 0.2
# read mostly guards: a box found short by a whole narrow digit (an LCD's last "1") reads a
# confident but shorter number at 0.06 and 0.12 alike; at 0.2 the digit comes back and the
# disagreement sends the photo to review. On 4 x 300 held-out scenes (seeds 20261121, 777, 31337,
# 9001) with reader-1.2: 2 wrong among 499 accepted without it, 0 among 493 with it.
# A window is read first as found and at 0.2; only a window those two reads leave unsettled is read
# at 0.06 and 0.12 too and decided on all four, as every window once was. With reader-2.2 on 3,600
# held-out photos (4 x 300 each rendered, with test-split and with validation-split real digits)
# the same exact match, 22 wrong among accepted against 21, 2,578 accepted against 2,546. Settled at
# 0.97, 11% less CPU per 640x480 photo (bench_photos); at 0.99 as fast as at 0.97.
FIRST_GROWTHS = (0.0, 0.2)
CHECK_GROWTHS = (0.06, 0.12)
# Settled: the first reads agree, would be `accepted`, and are at least this sure. A fixed bar,
# not the threshold, so that a window gets the same reads whatever the threshold: calibrating at
# threshold 0 (calibrate.whole_photo_scores) then measures the pipeline that ships. A window
# read between the threshold (0.9633) and it is decided on all four reads, as before. Settled
# at 0.97 instead, as many photos were accepted and as fast, but the whole photos calibrated to
# 0.9676, which would have sent 1.5% more real test counters read as crops to review.
DEFAULT_SETTLED_CONFIDENCE = 0.99
NO_LOCATOR_REASON = "no counter found: no locator model in the model folder"
# Meter counters show 4 to 10 drums or LCD digits (the renders and the real crops alike), so a
# window that reads fewer, without a profile that says so, is a label, a serial's tail or a
# counter found in part: a person looks. A clutter photo's printed "044", found at 0.801, was
# read at 0.9912 by phase 15's reader (model/training_state) and accepted: 1 of 240 held-out
# photos without a counter.
MIN_COUNTER_DIGITS = 4
SHORT_READING_REASON = f"fewer than {MIN_COUNTER_DIGITS} digits: not a whole counter"


def read_images(images: list[np.ndarray], models: Models, *, crop: bool = False,
                profile: MeterProfile | None = None) -> list[Reading]:
    """Read a list of photos (or counter crops with crop=True), batched: the reader runs once for
    crops and at most twice for photos (first reads, then the check reads of unsettled windows).

    images: list of (H, W, 3) uint8 BGR or (H, W) uint8 grey.
    Returns one Reading per image, in order.
    """
    digits = profile.digits if profile else None
    images = [to_gray(image) for image in images]
    if crop:
        return [_with_value(r, profile) for r in read_crops_checked(images, models, digits=digits)]
    outcomes: list[Reading | None] = [None] * len(images)
    for index, image in enumerate(images):
        reason = triage(image)
        if reason:
            outcomes[index] = Reading.failed(Status.UNREADABLE, reason, models.version)
    pending = [i for i, outcome in enumerate(outcomes) if outcome is None]
    located: dict[int, CounterBox] = {}
    for index, box in zip(pending, find_windows([images[i] for i in pending], models, profile)):
        if box is None:
            reason = "no counter found" if _can_locate(models, profile) else NO_LOCATOR_REASON
            outcomes[index] = Reading.failed(Status.UNREADABLE, reason, models.version)
        else:
            located[index] = box
    reads = read_windows(images, located, FIRST_GROWTHS, models, digits)
    for index, by_end in reads.items():
        outcomes[index] = choose_reading(list(by_end.values()))
    unsettled = {i: box for i, box in located.items() if not _settled(outcomes[i])}
    for index, by_end in read_windows(images, unsettled, CHECK_GROWTHS, models, digits).items():
        for end, more in by_end.items():
            reads[index].setdefault(end, []).extend(more)
        outcomes[index] = choose_reading(list(reads[index].values()))
    return [_with_value(r, profile) for r in outcomes]


def read_windows(images: list[np.ndarray], boxes: dict[int, CounterBox], growths: tuple[float, ...],
                 models: Models, digits: int | None) -> dict[int, dict[int, list[Reading]]]:
    """Read each located window grown by `growths` (candidate_quads), in one reader call:
    {image index: {end: [its reads, as `_trusted` leaves them]}}."""
    crops, owners = [], []
    for index, box in boxes.items():
        for end, quad in candidate_quads(box, growths):
            crops.append(rectify(images[index], quad))
            owners.append((index, end))
    reads: dict[int, dict[int, list[Reading]]] = {}
    for (index, end), reading in zip(owners, read_crops(crops, models, digits=digits) if crops else []):
        reads.setdefault(index, {}).setdefault(end, []).append(_trusted(reading, boxes[index], digits))
    return reads


def _settled(reading: Reading) -> bool:
    return reading.status == Status.ACCEPTED and (reading.confidence or 0.0) >= DEFAULT_SETTLED_CONFIDENCE


def find_windows(images: list[np.ndarray], models: Models,
                 profile: MeterProfile | None) -> list[CounterBox | None]:
    """The counter window of each photo: the profile's fixed window, else the locator's box."""
    if profile is not None and profile.window is not None:
        return [CounterBox(profile.window_quad(im.shape[1], im.shape[0]), 1.0, 1.0) for im in images]
    if models.locator is None:
        return [None] * len(images)
    return locate_counters(images, models.locator)


def _can_locate(models: Models, profile: MeterProfile | None) -> bool:
    return models.locator is not None or (profile is not None and profile.window is not None)


def candidate_quads(box: CounterBox, growths: tuple[float, ...] = FIRST_GROWTHS + CHECK_GROWTHS,
                    ) -> list[tuple[int, np.ndarray]]:
    """The windows worth reading, as (end, quad): the box and longer ones (a box cut short loses
    a whole digit, a slightly long one costs little), each `growths` share of its length longer
    at each end, and all again from the other end (end 1) when the locator is unsure which end
    the reading starts from."""
    quads = [box.quad if grow == 0 else expand_quad(box.quad, grow, 0.0) for grow in growths]
    ends = [(0, q) for q in quads]
    if box.orientation_confidence < DEFAULT_SURE_ORIENTATION:
        ends += [(1, rotate_quad_180(q)) for q in quads]
    return ends


def _trusted(reading: Reading, box: CounterBox, digits: int | None = None) -> Reading:
    """A window the locator was unsure of may be a label or a serial, and one that reads fewer
    digits than a counter has (unless the profile's `digits` say so) only part of one: a person
    must look."""
    if reading.status != Status.ACCEPTED:
        return reading
    if box.score < DEFAULT_SURE_LOCATION:
        return replace(reading, status=Status.REVIEW)
    if digits is None and len(reading.reading or "") < MIN_COUNTER_DIGITS:
        return replace(reading, status=Status.REVIEW, reason=SHORT_READING_REASON)
    return reading


def choose_reading(reads_by_end: list[list[Reading]]) -> Reading:
    """One window's reading from its reads (as found and grown, from each end read).

    The end whose reads include the most confident one is read in that direction. Its digits
    are those most of its reads give (ties: the most confident), not merely the most confident
    read's: a box cut short reads one digit fewer, often very surely, while every grown window
    reads the digit it lost. On 1,800 held-out scenes (seeds 20261121, 777, 31337, 9001, 555,
    8888) with reader-1.9 the vote read 8 more photos right and changed no `accepted` one.
    The reading stays `accepted` only if every read from that end gives the same digits and no
    read from the other end would be accepted with different digits: a reading that changes
    when the window moves by a few pixels (a digit gained or lost at an edge) needs a person.
    """
    same_end = max(reads_by_end, key=lambda reads: max(r.confidence or 0.0 for r in reads))
    best = _most_read(same_end)
    other_end = [r for reads in reads_by_end if reads is not same_end for r in reads]
    if best.status != Status.ACCEPTED or (len(same_end) == 1 and not other_end):
        return best
    if any(r.reading != best.reading for r in same_end) or any(
        r.status == Status.ACCEPTED and r.reading != best.reading for r in other_end
    ):
        return replace(best, status=Status.REVIEW, reason="reading changes with the window")
    return best


def _most_read(reads: list[Reading]) -> Reading:
    """The most confident read of the digits most reads give (ties: the more confident)."""
    votes = Counter(r.reading for r in reads if r.reading)
    if not votes:
        return max(reads, key=lambda r: r.confidence or 0.0)
    top_confidence = {text: max(r.confidence or 0.0 for r in reads if r.reading == text) for text in votes}
    winner = max(votes, key=lambda text: (votes[text], top_confidence[text]))
    return max((r for r in reads if r.reading == winner), key=lambda r: r.confidence or 0.0)


def _with_value(reading: Reading, profile: MeterProfile | None) -> Reading:
    value = format_value(reading.reading, profile)
    return replace(reading, value=value) if value is not None else reading

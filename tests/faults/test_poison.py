"""RELIABILITY.md faults 7 and 8: poison photos and hanging photos, in a real worker.

A photo whose decoder raises, one that kills its pool child (SIGSEGV), one that hangs where the
soft time limit can stop it and one stuck where only the hard limit can: each ends as an `error`
row after a bounded number of attempts, and every other photo of the batch is read.
"""

from __future__ import annotations

import pytest

from tests.faults.checks import Recovery, assert_exactly_once, wait_done
from tests.faults.conftest import job_id_of, jpeg_with_marker, write_photos
from tests.integration.harness import Worker
from tests.integration.photos import NOT_AN_IMAGE

pytestmark = [pytest.mark.integration, pytest.mark.model, pytest.mark.slow]

GOOD = 8


def _run_job(stack, tmp_path, bodies: dict[str, bytes], clock: Recovery) -> tuple[dict, str]:
    """Enqueue a folder of `bodies` as one batch on a single-child worker; rows and worker log."""
    folder = tmp_path / "photos"
    expected = write_photos(folder, bodies)
    worker = Worker(stack, tmp_path / "worker.log", name="poison", concurrency=1)
    try:
        worker.wait_ready(children=1)
        job_id = job_id_of(stack.cli("enqueue", str(folder), "--batch-size", str(len(bodies))))
        clock.fault()
        wait_done(stack, job_id, timeout=300)
        clock.recovered()
        rows = assert_exactly_once(stack, job_id, expected)
    finally:
        worker.stop()
    return {path.rsplit("/", 1)[-1]: row for path, row in rows.items()}, worker.log()


def _good_photos() -> dict[str, bytes]:
    return {f"good{i:02d}.jpg": jpeg_with_marker(i) for i in range(GOOD)}


def _assert_neighbours_read(rows: dict) -> None:
    good = [rows[f"good{i:02d}.jpg"] for i in range(GOOD)]
    assert all(row.status in ("accepted", "review", "unreadable") for row in good), [r.reason for r in good]


def test_decoder_exception_and_child_crash_end_as_errors_and_neighbours_are_read(fault_stack, tmp_path):
    stack = fault_stack(METER_OCR_MAX_ATTEMPTS="2")
    bodies = {**_good_photos(), "raises.jpg": jpeg_with_marker(90, b"FAULT:RAISE"),
              "crashes.jpg": jpeg_with_marker(91, b"FAULT:CRASH")}
    rows, log = _run_job(stack, tmp_path, bodies, Recovery("fault 7: poison photos (raise, SIGSEGV)"))
    assert rows["raises.jpg"].status == "error"
    assert rows["raises.jpg"].reason.startswith("decode failed: RuntimeError: injected decoder bug")
    assert (rows["crashes.jpg"].status, rows["crashes.jpg"].reason) == ("error", "gave up after 2 attempts")
    _assert_neighbours_read(rows)
    assert log.count("WorkerLostError") >= 2, "the child should have died on each of the two tries"


def test_hanging_photo_soft_time_limit_keeps_finished_rows(fault_stack, tmp_path):
    stack = fault_stack(METER_OCR_MAX_ATTEMPTS="2", METER_OCR_TASK_SOFT_TIME_LIMIT="8",
                        METER_OCR_TASK_TIME_LIMIT="25")
    bodies = {**_good_photos(), "text.jpg": NOT_AN_IMAGE, "hangs.jpg": jpeg_with_marker(92, b"FAULT:HANG")}
    rows, log = _run_job(stack, tmp_path, bodies, Recovery("fault 8: hanging photo (soft time limit)"))
    assert (rows["hangs.jpg"].status, rows["hangs.jpg"].reason) == ("error", "gave up after 2 attempts")
    assert (rows["text.jpg"].status, rows["text.jpg"].reason) == ("error", "not an image")
    _assert_neighbours_read(rows)
    assert "soft time limit; kept 1 finished rows" in log  # the first try saved text.jpg's row
    assert "Hard time limit" not in log


def test_photo_stuck_in_native_code_is_killed_at_the_hard_limit_and_capped(fault_stack, tmp_path):
    stack = fault_stack(METER_OCR_MAX_ATTEMPTS="2", METER_OCR_TASK_SOFT_TIME_LIMIT="6",
                        METER_OCR_TASK_TIME_LIMIT="12")
    bodies = {**_good_photos(), "stuck.jpg": jpeg_with_marker(93, b"FAULT:STUCK")}
    rows, log = _run_job(stack, tmp_path, bodies, Recovery("fault 8b: photo stuck in C (hard time limit)"))
    assert (rows["stuck.jpg"].status, rows["stuck.jpg"].reason) == ("error", "gave up after 2 attempts")
    _assert_neighbours_read(rows)
    assert "Hard time limit (12" in log  # the child was killed, and the batch came back

"""RELIABILITY.md faults 5, 6 and 13: a broker that forgets its queue, a task that outlives the
visibility timeout and runs twice, and a long run through recycled pool children."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.faults.checks import Recovery, assert_exactly_once, job_state, wait_done, wait_for
from tests.faults.conftest import job_id_of, jpeg_with_marker, write_photos
from tests.integration.harness import Worker, rss_kb

pytestmark = [pytest.mark.integration, pytest.mark.model, pytest.mark.slow]


def test_redis_without_persistence_loses_the_queue_and_resume_requeues_what_is_owed(
        fault_stack, redis_factory, tmp_path):
    broker = redis_factory(appendonly=False)
    stack = fault_stack()
    stack.broker_url = broker.url
    expected = write_photos(tmp_path / "photos", {f"{i:03d}.jpg": jpeg_with_marker(i) for i in range(40)})
    job_id = job_id_of(stack.cli("enqueue", str(tmp_path / "photos"), "--batch-size", "5"))
    early = stack.cli("resume", job_id)  # nothing lost yet: resume must not double the queue
    assert f"job {job_id}: re-queued 0 owed batches (8 still on the broker)" in early.stdout
    broker.kill(signal.SIGKILL)  # no worker yet: all 8 batches were waiting on Redis
    broker.restart()
    worker = Worker(stack, tmp_path / "worker.log", name="after-flush", concurrency=1)
    try:
        worker.wait_ready(children=1)
        time.sleep(3)
        assert job_state(stack, job_id) == "queued", "the queue should be gone with the restart"
        assert "Task meter_ocr.read_batch" not in worker.log()
        clock = Recovery("fault 5: Redis restarted without persistence", "(from `resume`)")
        clock.fault()
        resumed = stack.cli("resume", job_id)
        assert f"job {job_id}: re-queued 8 owed batches" in resumed.stdout
        wait_done(stack, job_id)
        clock.recovered()
        assert_exactly_once(stack, job_id, expected)
    finally:
        worker.stop()


def test_task_outliving_the_visibility_timeout_runs_twice_and_leaves_one_row_per_photo(fault_stack, tmp_path):
    # The first worker's own limits are long; the second restores unacked tasks after 60 s.
    stack = fault_stack()
    bodies = {f"{i:03d}.jpg": jpeg_with_marker(i) for i in range(9)}
    bodies["slow.jpg"] = jpeg_with_marker(99, b"FAULT:SLOW")
    expected = write_photos(tmp_path / "photos", bodies)
    first = Worker(stack, tmp_path / "first.log", name="frozen", concurrency=1,
                   METER_OCR_VISIBILITY_TIMEOUT="600", METER_OCR_TASK_TIME_LIMIT="500",
                   METER_OCR_TASK_SOFT_TIME_LIMIT="480")
    second = None
    try:
        first.wait_ready(children=1)
        (child,) = first.children()
        job_id = job_id_of(stack.cli("enqueue", str(tmp_path / "photos"), "--batch-size", "10"))
        wait_for(lambda: "Task meter_ocr.read_batch" in first.log(), "the batch to reach the first worker", every=0.05)
        time.sleep(1.0)  # inside the 4 s decode of slow.jpg: attempt counted, nothing saved
        os.kill(child, signal.SIGSTOP)
        held = stack.cli("resume", job_id).stdout  # delivered, unacknowledged: not lost
        assert f"job {job_id}: re-queued 0 owed batches (1 still on the broker)" in held
        clock = Recovery("fault 6: task outlives the visibility timeout", "(60 s timeout included)")
        clock.fault()
        second = Worker(stack, tmp_path / "second.log", name="second", concurrency=1)
        second.wait_ready(children=1)
        wait_done(stack, job_id, timeout=240)  # the second worker ran the redelivered copy
        clock.recovered()
        os.kill(child, signal.SIGCONT)  # the first copy now finishes and writes the same rows again
        wait_for(lambda: "succeeded in" in first.log(), "the first copy to finish", timeout=120)
        assert "succeeded in" in second.log()
        assert_exactly_once(stack, job_id, expected)
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_many_batches_through_recycled_children_keep_the_parent_flat(fault_stack, tmp_path):
    stack = fault_stack(METER_OCR_WORKER_MAX_TASKS_PER_CHILD="3")
    expected = write_photos(tmp_path / "photos", {f"{i:03d}.jpg": jpeg_with_marker(i) for i in range(54)})
    worker = Worker(stack, tmp_path / "worker.log", name="soak", concurrency=1)
    try:
        worker.wait_ready(children=1)
        parent_start_kb = rss_kb(worker.pid)
        clock = Recovery("fault 13: soak, 18 batches, child recycled every 3", "(whole run)")
        clock.fault()
        job_id = job_id_of(stack.cli("enqueue", str(tmp_path / "photos"), "--batch-size", "3"))
        wait_done(stack, job_id, timeout=480)
        clock.recovered()
        parent_end_kb = rss_kb(worker.pid)
        assert_exactly_once(stack, job_id, expected)
        children = worker.log().count("resources ready in pid")
    finally:
        worker.stop()
    print(f"parent RSS {parent_start_kb / 1024:.0f} MiB -> {parent_end_kb / 1024:.0f} MiB; {children} children")
    assert children >= 6, "children should have been recycled every 3 batches"
    assert parent_end_kb - parent_start_kb < 30 * 1024, "the parent's memory grew"

"""RELIABILITY.md faults 11 and 12: a producer SIGKILLed mid-listing and run again, and the same
source enqueued twice at once. Either way: one job, no duplicate items, the same total, and one
job's worth of reading."""

from __future__ import annotations

import ast
import re
import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select

from tests.conftest import tiny_png
from tests.faults.checks import Recovery, assert_exactly_once, session_for, wait_done, wait_for
from tests.faults.conftest import INJECT_DIR, write_photos
from tests.integration.harness import CLI, REPO_ROOT, Worker

pytestmark = [pytest.mark.integration, pytest.mark.model, pytest.mark.slow]

LISTING_CHUNK = 2000  # producer.jobs.DEFAULT_LISTING_CHUNK: the first commit of a listing


def _producer(stack, folder, *, delay_s: float) -> subprocess.Popen:
    """`meter-ocr enqueue FOLDER` whose listing waits `delay_s` per photo (test injector)."""
    env = stack.env(METER_OCR_TEST_LISTING_DELAY=str(delay_s), PYTHONPATH=f"{INJECT_DIR}:{REPO_ROOT}")
    return subprocess.Popen([*CLI, "enqueue", str(folder), "--batch-size", "100"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _jobs_and_rows(stack, source: str) -> tuple[list, int]:
    """(job rows of this source, photo rows across them)."""
    from results.schema import jobs, photos

    with session_for(stack) as session:
        found = session.execute(select(jobs.c.id, jobs.c.listed_at).where(jobs.c.source == source)).all()
        rows = session.execute(
            select(func.count()).select_from(photos).where(photos.c.job_id.in_([j.id for j in found]))
        ).scalar_one() if found else 0
    return found, rows


def _photos_read(worker: Worker) -> int:
    """Photos the worker actually read, from its `job J batch B attempt A: {counts}` lines."""
    total = 0
    for counts in re.findall(r"attempt \d+: (\{[^}]*\}) in ", worker.log()):
        total += sum(ast.literal_eval(counts).values())
    return total


def test_producer_killed_mid_listing_and_run_again_continues_the_same_job(fault_stack, tmp_path):
    stack = fault_stack()
    folder = tmp_path / "photos"
    expected = write_photos(folder, {f"{i:05d}.png": tiny_png(i) for i in range(2600)})
    stack.cli("status", check=False)  # creates the schema, so the polling below can read it
    producer = _producer(stack, folder, delay_s=0.003)
    try:
        wait_for(lambda: _jobs_and_rows(stack, str(folder))[1] >= LISTING_CHUNK, "the first listing chunk",
                 timeout=120, every=0.1)
    finally:
        producer.send_signal(signal.SIGKILL)
        producer.wait(timeout=30)
    (killed_job,), rows_at_kill = _jobs_and_rows(stack, str(folder))
    assert killed_job.listed_at is None and rows_at_kill < len(expected), "the kill came too late"
    worker = Worker(stack, tmp_path / "worker.log", name="relist", concurrency=1)
    try:
        worker.wait_ready(children=1)
        clock = Recovery("fault 11: producer SIGKILLed mid-listing, re-run", f"({rows_at_kill} listed at kill)")
        clock.fault()
        rerun = stack.cli("enqueue", str(folder), "--batch-size", "100")
        assert rerun.stdout.splitlines()[0] == killed_job.id, "the re-run should continue the unfinished job"
        wait_done(stack, killed_job.id, timeout=400)
        clock.recovered()
        assert_exactly_once(stack, killed_job.id, expected)
        assert _jobs_and_rows(stack, str(folder)) == ([(killed_job.id, _listed_at(stack, killed_job.id))], 2600)
    finally:
        worker.stop()


def _listed_at(stack, job_id: str):
    from results.schema import jobs

    with session_for(stack) as session:
        return session.execute(select(jobs.c.listed_at).where(jobs.c.id == job_id)).scalar_one()


def test_same_source_enqueued_twice_at_once_is_one_jobs_worth_of_work(fault_stack, tmp_path):
    stack = fault_stack()
    folder = tmp_path / "photos"
    expected = write_photos(folder, {f"{i:04d}.png": tiny_png(i) for i in range(300)})
    worker = Worker(stack, tmp_path / "worker.log", name="twice", concurrency=1)
    try:
        worker.wait_ready(children=1)
        clock = Recovery("fault 12: same source enqueued twice at once", "(both enqueues to done)")
        clock.fault()
        first, second = (_producer(stack, folder, delay_s=0.01) for _ in range(2))
        outputs = [p.communicate(timeout=120) for p in (first, second)]
        assert first.returncode == second.returncode == 0, outputs
        job_ids = {out.splitlines()[0] for out, _ in outputs}
        assert len(job_ids) == 1, f"two jobs for one source: {job_ids}"
        (job_id,) = job_ids
        wait_done(stack, job_id, timeout=300)
        clock.recovered()
        assert_exactly_once(stack, job_id, expected)
        jobs, rows = _jobs_and_rows(stack, str(folder))
        assert len(jobs) == 1 and rows == len(expected)
        wait_for(lambda: _photos_read(worker) >= len(expected), "the worker's log lines")
        time.sleep(2)  # a duplicate batch would show up here
        assert _photos_read(worker) == len(expected), "some photos were read twice"
    finally:
        worker.stop()

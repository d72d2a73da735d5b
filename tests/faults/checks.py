"""What every fault test ends with, and the clock it reads recovery times from.

`assert_exactly_once` reads the results DB directly (not through the CLI): every expected photo
has exactly one row in the job, none is still pending, no stray rows, and the job's counts
(total and per status) equal its rows. `Recovery` measures from the fault to the job being done
and collects the numbers for the end-of-run summary (tests/faults/conftest.py).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from tests.integration.harness import Stack

RECOVERIES: list[tuple[str, float, str]] = []  # (fault, seconds, note), printed at the end


@dataclass
class Recovery:
    """`with Recovery("fault 2: worker SIGKILL") as clock: ... clock.fault() ... wait ...`"""

    name: str
    note: str = ""
    started: float | None = None
    seconds: float | None = field(default=None, init=False)

    def fault(self) -> None:
        """The moment the fault was injected."""
        self.started = time.monotonic()

    def recovered(self) -> float:
        """The moment every photo had its row; records and prints the interval."""
        if self.started is None:
            raise AssertionError(f"{self.name}: recovered() before fault()")
        self.seconds = time.monotonic() - self.started
        RECOVERIES.append((self.name, self.seconds, self.note))
        print(f"\nRECOVERY {self.name}: {self.seconds:.1f}s {self.note}")
        return self.seconds


def wait_for(check, what: str, *, timeout: float = 180, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def job_state(stack: Stack, job_id: str) -> str | None:
    from results.repository import get_job

    with session_for(stack) as session:
        job = get_job(session=session, job_id=job_id)
    return None if job is None else job.state


def wait_done(stack: Stack, job_id: str, *, timeout: float = 240) -> None:
    wait_for(lambda: job_state(stack, job_id) == "done", f"job {job_id} to be done", timeout=timeout, every=0.5)


def rows_of(stack: Stack, job_id: str) -> dict[str, object]:
    """{source_uri: ResultRow} of the job, read straight from the results DB."""
    from results.repository import iter_results

    with session_for(stack) as session:
        rows = list(iter_results(session=session, job_id=job_id))
    found = {row.source: row for row in rows}
    assert len(found) == len(rows), "a photo has two rows in one job"
    return found


def assert_exactly_once(stack: Stack, job_id: str, expected: set[str]) -> dict[str, object]:
    """Every expected photo has exactly one final row; the job's counts equal its rows."""
    from results.repository import get_job
    from results.schema import photos

    with session_for(stack) as session:
        per_uri = session.execute(
            select(photos.c.source_uri, func.count()).where(photos.c.job_id == job_id).group_by(photos.c.source_uri)
        ).all()
        job = get_job(session=session, job_id=job_id)
    duplicates = {uri: n for uri, n in per_uri if n != 1}
    assert not duplicates, f"duplicate rows: {duplicates}"
    uris = {uri for uri, _ in per_uri}
    assert uris == expected, f"lost: {sorted(expected - uris)[:5]}; stray: {sorted(uris - expected)[:5]}"
    rows = rows_of(stack, job_id)
    statuses = Counter(row.status for row in rows.values())
    assert statuses["pending"] == 0, f"{statuses['pending']} photos still pending"
    assert job.state == "done" and job.total == len(expected)
    assert {s: n for s, n in job.counts.items() if n} == dict(statuses), (job.counts, statuses)
    return rows


def session_for(stack: Stack):
    """A session on the stack's results DB (one engine per URL, kept for the run)."""
    from results.db import make_engine, make_session_factory

    engine = _ENGINES.get(stack.database_url)
    if engine is None:
        engine = _ENGINES[stack.database_url] = make_engine(stack.database_url)
    return make_session_factory(engine)()


_ENGINES: dict = {}

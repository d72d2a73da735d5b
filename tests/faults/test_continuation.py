"""Unit tier (SQLite, no services, no TensorFlow): `record_job` continues the unfinished job of a
source instead of starting a second one; a producer that dies mid-listing leaves a job the next
run completes with no duplicate items and the same total."""

from __future__ import annotations

import pytest

from producer.jobs import record_job
from storage.refs import PhotoRef


@pytest.fixture
def session_factory(tmp_path):
    from results.db import make_engine, make_session_factory, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'results.db'}")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _refs(n: int) -> list[PhotoRef]:
    return [PhotoRef(f"s3://bucket/p/{i:05d}.jpg", etag=f"e{i}", size=100) for i in range(n)]


def _dies_after(refs: list[PhotoRef], n: int):
    """A listing that yields n refs and then dies, as a SIGKILLed producer's would."""
    for i, ref in enumerate(refs):
        if i == n:
            raise KeyboardInterrupt("producer killed")
        yield ref


def _record(session_factory, refs, sent: list, **kwargs):
    return record_job("s3://bucket/p/", refs, session_factory=session_factory, model_version="v1", profile=None,
                      batch_size=100, on_batches=lambda job_id, nos: sent.extend(nos), **{"force": False, **kwargs})


def _rows(session_factory, job_id: str) -> list[str]:
    from results.repository import iter_results

    with session_factory() as session:
        return [row.source for row in iter_results(session=session, job_id=job_id)]


def test_a_run_killed_mid_listing_is_continued_with_no_duplicates(session_factory, monkeypatch):
    monkeypatch.setattr("producer.jobs.DEFAULT_LISTING_CHUNK", 250)
    refs = _refs(1000)
    first_sent: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        _record(session_factory, _dies_after(refs, 600), first_sent)
    assert first_sent == [0, 1, 2, 3, 4, 5]  # two chunks of 250 (3 batches each) sent, the third lost
    second_sent: list[int] = []
    plan = _record(session_factory, refs, second_sent)
    assert plan.continued
    rows = _rows(session_factory, plan.job_id)
    assert len(rows) == len(set(rows)) == 1000
    assert second_sent[:6] == [0, 1, 2, 3, 4, 5]  # owed batches re-queued: the dead run may not have sent them
    assert sorted(set(second_sent)) == sorted(second_sent) and max(second_sent) >= 9
    from results.repository import get_job

    with session_factory() as session:
        job = get_job(session=session, job_id=plan.job_id)
    assert job.total == 1000 and job.listed_at is not None and job.counts["pending"] == 1000


def test_a_fully_listed_unfinished_job_is_joined_not_repeated(session_factory):
    sent: list[int] = []
    first = _record(session_factory, _refs(300), sent)
    again: list[int] = []
    second = _record(session_factory, _refs(300), again)
    assert second.job_id == first.job_id and second.continued and again == []
    assert second.batches == first.batches  # what `run` would still process
    forced = _record(session_factory, _refs(300), [], force=True)
    assert forced.job_id != first.job_id and not forced.continued

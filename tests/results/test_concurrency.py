"""Several worker processes writing batches of one job at once, each batch delivered twice."""

import multiprocessing

from results import repository as repo
from results.db import make_engine, make_session_factory
from tests.results.helpers import new_job, outcomes_for, row_counts

BATCHES = 12
BATCH_SIZE = 25
PROCESSES = 4


def _worker(url: str, job_id: str, batch_nos: list[int], barrier) -> int:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    barrier.wait()
    saved = 0
    for batch_no in batch_nos:
        with sessions() as session, session.begin():
            work = repo.load_batch(session=session, job_id=job_id, batch_no=batch_no)
            repo.record_attempt(session=session, job_id=job_id, batch_no=batch_no)
        with sessions() as session, session.begin():
            repo.save_batch(session=session, job_id=job_id, batch_no=batch_no, outcomes=outcomes_for(work.photos))
        saved += len(work.photos)
    engine.dispose()
    return saved


def test_concurrent_batches_leave_one_row_per_photo_and_exact_counts(db_url, sessions):
    from tests.results.helpers import refs

    job_id, batch_nos = new_job(sessions, refs(BATCHES * BATCH_SIZE), batch_size=BATCH_SIZE)
    # Every batch goes to two processes (a redelivery racing the original).
    shares = [batch_nos[i::PROCESSES] + batch_nos[(i + 1) % PROCESSES::PROCESSES] for i in range(PROCESSES)]
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        barrier = manager.Barrier(PROCESSES)
        with context.Pool(PROCESSES) as pool:
            pool.starmap(_worker, [(db_url, job_id, share, barrier) for share in shares])
    with sessions() as session, session.begin():
        summary = repo.get_job(session=session, job_id=job_id)
    assert row_counts(sessions, job_id) == {"accepted": BATCHES * BATCH_SIZE}
    assert summary.counts["accepted"] == BATCHES * BATCH_SIZE and summary.counts["pending"] == 0
    assert (summary.state, summary.total, summary.batches_owed) == ("done", BATCHES * BATCH_SIZE, 0)


def test_a_batch_committing_while_another_is_open_does_not_lose_counts(sessions):
    """Batch 1 is saved while batch 0's transaction is still open. Without the job-row lock,
    batch 1 would count rows before batch 0 commits and overwrite the job with stale counts."""
    import threading
    import time

    from tests.results.helpers import refs

    photos = refs(8)
    job_id, _ = new_job(sessions, photos, batch_size=4)
    first = sessions()
    first.begin()
    repo.save_batch(session=first, job_id=job_id, batch_no=0, outcomes=outcomes_for(photos[:4]))

    def save_second() -> None:
        with sessions() as session, session.begin():
            repo.save_batch(session=session, job_id=job_id, batch_no=1, outcomes=outcomes_for(photos[4:]))

    second = threading.Thread(target=save_second)
    second.start()
    time.sleep(0.5)  # let the second transaction reach the database while the first is open
    first.commit()
    first.close()
    second.join(timeout=30)
    with sessions() as session, session.begin():
        summary = repo.get_job(session=session, job_id=job_id)
    assert summary.counts["accepted"] == 8 and summary.counts["pending"] == 0
    assert summary.state == "done"

"""Repository behaviour on SQLite and on real Postgres (the `db_url` fixture runs both)."""

import json
import re
from datetime import UTC

import pytest

from model.reading import Status
from results import repository as repo
from tests.results.helpers import MODEL, new_job, outcomes_for, reading, refs, row_counts, run_batch


def job(sessions, job_id):
    with sessions() as session, session.begin():
        return repo.get_job(session=session, job_id=job_id)


def test_create_job_and_add_photos_in_batches(sessions):
    job_id, batch_nos = new_job(sessions, refs(10), batch_size=4)
    assert re.fullmatch(r"[0-9a-f]{12}", job_id)
    assert batch_nos == [0, 1, 2]
    summary = job(sessions, job_id)
    assert (summary.total, summary.state, summary.batches_total, summary.batches_owed) == (10, "queued", 3, 3)
    assert summary.counts == {"pending": 10, "accepted": 0, "review": 0, "unreadable": 0, "error": 0}
    assert summary.created_at.tzinfo is not None and summary.created_at.utcoffset().total_seconds() == 0
    with sessions() as session, session.begin():
        work = repo.load_batch(session=session, job_id=job_id, batch_no=2)
        assert [p.uri for p in work.photos] == [r.uri for r in refs(10)[8:]]
        assert work.photos[0].etag == "etag8" and work.photos[0].size == 1008
        assert (work.attempts, work.done) == (0, False)
        assert repo.load_batch(session=session, job_id=job_id, batch_no=3) is None


def test_add_photos_rerun_adds_nothing_twice(sessions):
    photos = refs(10)
    job_id, first = new_job(sessions, photos, batch_size=4, listed=False)
    with sessions() as session, session.begin():  # the producer was killed and runs again
        again = repo.add_photos(session=session, job_id=job_id, refs=photos, batch_size=4)
        shuffled = repo.add_photos(session=session, job_id=job_id, refs=photos[::-1] + photos[:3], batch_size=4,
                                   start_batch_no=0)
        repo.set_job_total(session=session, job_id=job_id, total=10)
    assert again == first and set(shuffled) <= set(first)
    summary = job(sessions, job_id)
    assert (summary.total, summary.batches_total) == (10, 3)
    assert sum(1 for _ in row_counts(sessions, job_id)) == 1 and row_counts(sessions, job_id) == {"pending": 10}


def test_save_batch_twice_leaves_one_row_per_photo_and_counts_match(sessions):
    job_id, batch_nos = new_job(sessions, refs(10), batch_size=4)
    for batch_no in batch_nos:
        with sessions() as session, session.begin():
            work = repo.load_batch(session=session, job_id=job_id, batch_no=batch_no)
        statuses = [Status.ACCEPTED, Status.REVIEW, Status.UNREADABLE, Status.ERROR]
        outcomes = [repo.PhotoOutcome(p.uri, reading(statuses[i % 4]), 5.0) for i, p in enumerate(work.photos)]
        for _ in range(2):  # at-least-once delivery: the same batch is written twice
            with sessions() as session, session.begin():
                repo.save_batch(session=session, job_id=job_id, batch_no=batch_no, outcomes=outcomes)
    summary = job(sessions, job_id)
    rows = row_counts(sessions, job_id)
    assert sum(rows.values()) == 10
    assert {k: v for k, v in summary.counts.items() if v} == rows == {"accepted": 3, "review": 3, "unreadable": 2,
                                                                      "error": 2}
    assert (summary.state, summary.batches_owed, summary.total) == ("done", 0, 10)
    assert summary.finished_at is not None and summary.started_at <= summary.finished_at
    with sessions() as session, session.begin():
        assert repo.owed_batches(session=session, job_id=job_id) == []
        assert repo.load_batch(session=session, job_id=job_id, batch_no=0).done


def test_duplicate_outcomes_in_one_batch_are_deduplicated_last_wins(sessions):
    job_id, _ = new_job(sessions, refs(2), batch_size=4)
    first, second = refs(2)
    outcomes = outcomes_for([first, second, first], Status.REVIEW)
    outcomes[-1] = repo.PhotoOutcome(first.uri, reading(Status.ACCEPTED, "0000001"), 1.0)
    with sessions() as session, session.begin():
        repo.save_batch(session=session, job_id=job_id, batch_no=0, outcomes=outcomes)
    with sessions() as session, session.begin():
        by_uri = {r.source: r for r in repo.iter_results(session=session, job_id=job_id)}
    assert (by_uri[first.uri].status, by_uri[first.uri].reading) == ("accepted", "0000001")
    assert by_uri[second.uri].status == "review"


def test_job_is_not_done_before_listing_finished(sessions):
    job_id, batch_nos = new_job(sessions, refs(4), batch_size=4, listed=False)
    run_batch(sessions, job_id, batch_nos[0])
    assert job(sessions, job_id).state == "running"  # workers drained what is queued so far
    with sessions() as session, session.begin():
        more = repo.add_photos(session=session, job_id=job_id, refs=refs(4, start=4), batch_size=4, start_batch_no=1)
    run_batch(sessions, job_id, more[0])
    assert job(sessions, job_id).state == "running"
    with sessions() as session, session.begin():
        repo.set_job_total(session=session, job_id=job_id)
    summary = job(sessions, job_id)
    assert (summary.state, summary.total, summary.counts["accepted"]) == ("done", 8, 8)


def test_partial_save_keeps_the_batch_owed_and_resumes_the_rest(sessions):
    photos = refs(4)
    job_id, _ = new_job(sessions, photos, batch_size=4)
    with sessions() as session, session.begin():
        repo.save_batch(session=session, job_id=job_id, batch_no=0, outcomes=outcomes_for(photos[:3]))
    with sessions() as session, session.begin():
        assert repo.owed_batches(session=session, job_id=job_id) == [0]
        work = repo.load_batch(session=session, job_id=job_id, batch_no=0)
    assert [p.uri for p in work.photos] == [photos[3].uri] and not work.done
    assert job(sessions, job_id).state == "running"
    run_batch(sessions, job_id, 0)
    assert job(sessions, job_id).state == "done"


def test_record_attempt_counts_in_the_database(sessions):
    job_id, _ = new_job(sessions, refs(3), batch_size=4)
    with sessions() as session, session.begin():
        assert [repo.record_attempt(session=session, job_id=job_id, batch_no=0) for _ in range(3)] == [1, 2, 3]
        with pytest.raises(LookupError):
            repo.record_attempt(session=session, job_id=job_id, batch_no=9)
    with sessions() as session, session.begin():
        assert repo.load_batch(session=session, job_id=job_id, batch_no=0).attempts == 3
        assert {r.attempts for r in repo.iter_results(session=session, job_id=job_id)} == {3}


def test_empty_job_is_done_once_listed(sessions):
    job_id, batch_nos = new_job(sessions, [], batch_size=4)
    assert batch_nos == []
    summary = job(sessions, job_id)
    assert (summary.state, summary.total, summary.batches_total) == ("done", 0, 0)


def test_already_read_uris_respects_model_etag_and_status(sessions):
    photos = refs(4)
    job_id, _ = new_job(sessions, photos, batch_size=4)
    outcomes = outcomes_for(photos[:3]) + [repo.PhotoOutcome(photos[3].uri, reading(Status.ERROR), 1.0)]
    with sessions() as session, session.begin():
        repo.save_batch(session=session, job_id=job_id, batch_no=0, outcomes=outcomes)
    changed = type(photos[1])(photos[1].uri, etag="new-etag", size=1)
    no_etag = type(photos[2])(photos[2].uri)
    query = [photos[0], changed, no_etag, photos[3], *refs(1, start=50)]
    with sessions() as session, session.begin():
        found = repo.already_read_uris(session=session, refs=query, model_version=MODEL)
        other_model = repo.already_read_uris(session=session, refs=query, model_version="reader-test-2")
    assert found == {photos[0].uri, photos[2].uri}  # changed object and error rows are read again
    assert other_model == set()


def test_iter_results_filters_by_status_with_bound_parameters(sessions, monkeypatch):
    monkeypatch.setattr("results.rows.RESULTS_PAGE_SIZE", 3)  # several pages
    photos = refs(10)
    job_id, _ = new_job(sessions, photos, batch_size=10)
    outcomes = [repo.PhotoOutcome(p.uri, reading(Status.REVIEW if i % 3 else Status.ACCEPTED), 1.0)
                for i, p in enumerate(photos)]
    with sessions() as session, session.begin():
        repo.save_batch(session=session, job_id=job_id, batch_no=0, outcomes=outcomes)
        every = list(repo.iter_results(session=session, job_id=job_id))
        review = list(repo.iter_results(session=session, job_id=job_id, status="review"))
        for hostile in ["review' OR '1'='1", "review; DROP TABLE photos;--", "REVIEW", ""]:
            with pytest.raises(ValueError, match="unknown status"):
                list(repo.iter_results(session=session, job_id=job_id, status=hostile))
        assert list(repo.iter_results(session=session, job_id="no-such-job")) == []
    assert [r.source for r in every] == [p.uri for p in photos]
    assert len(review) == 6 and {r.status for r in review} == {"review"}


def test_result_row_json_matches_the_design(sessions):
    photos = refs(1)
    job_id, _ = new_job(sessions, photos)
    run_batch(sessions, job_id, 0)
    with sessions() as session, session.begin():
        repo.apply_review(session=session, job_id=job_id, uri=photos[0].uri, corrected_reading="0042918",
                          reviewer="ana")
        (row,) = repo.iter_results(session=session, job_id=job_id)
    line = row.to_json_dict()
    assert list(line)[:7] == ["source", "reading", "confidence", "status", "reason", "digits", "model_version"]
    assert line["digits"][0] == {"digit": "0", "confidence": 0.99} and len(line["digits"]) == 7
    assert (line["etag"], line["size"], line["processing_ms"]) == ("etag0", 1000, 12.5)
    assert (line["corrected_reading"], line["reviewer"], line["status"]) == ("0042918", "ana", "accepted")
    assert row.reviewed_at.tzinfo == UTC
    json.dumps(line)  # serialisable as one jsonl line
    same_keys_as_reading = reading().to_json_dict(photos[0].uri)
    assert set(same_keys_as_reading) <= set(line)


def test_apply_review_validates(sessions):
    photos = refs(1)
    job_id, _ = new_job(sessions, photos)
    with sessions() as session, session.begin():
        for bad in ["12a4", "", "１２", "1" * 65]:
            with pytest.raises(ValueError, match="digits only"):
                repo.apply_review(session=session, job_id=job_id, uri=photos[0].uri, corrected_reading=bad,
                                  reviewer="ana")
        with pytest.raises(ValueError, match="reviewer"):
            repo.apply_review(session=session, job_id=job_id, uri=photos[0].uri, corrected_reading="1", reviewer=" ")
        with pytest.raises(LookupError):
            repo.apply_review(session=session, job_id=job_id, uri="s3://bucket/none.jpg", corrected_reading="1",
                              reviewer="ana")


def test_jobs_are_listed_newest_first(sessions):
    ids = [new_job(sessions, refs(1))[0] for _ in range(3)]
    with sessions() as session, session.begin():
        assert repo.latest_job_id(session=session) == ids[-1]
        assert [j.job_id for j in repo.list_jobs(session=session, limit=2)] == ids[::-1][:2]
        repo.mark_job_state(session=session, job_id=ids[0], state="running")
        with pytest.raises(ValueError):
            repo.mark_job_state(session=session, job_id=ids[0], state="exploded")
    assert job(sessions, ids[0]).state == "running"


def test_save_batch_rejects_pending_outcomes(sessions):
    photos = refs(1)
    job_id, _ = new_job(sessions, photos)
    with sessions() as session, session.begin():
        with pytest.raises(ValueError, match="final"):
            repo.save_batch(session=session, job_id=job_id, batch_no=0,
                            outcomes=[repo.PhotoOutcome(photos[0].uri, reading(Status.PENDING), 0.0)])


def test_counts_equal_rows_through_a_random_mix_of_writes(sessions):
    """Counts are kept incrementally; after every write they must equal a recount of the rows."""
    import random

    rng = random.Random(7)
    pool = refs(60)
    job_id, _ = new_job(sessions, pool[:10], batch_size=8, listed=False)
    next_batch = 2
    for step in range(40):
        with sessions() as session, session.begin():
            if step % 4 == 0:  # the producer adds an overlapping chunk of photos
                chunk = rng.sample(pool, 12)
                next_batch += len(repo.add_photos(session=session, job_id=job_id, refs=chunk, batch_size=8,
                                                  start_batch_no=next_batch)) + 1
            else:  # a worker saves a (possibly partial, possibly repeated) batch with random statuses
                owed = repo.owed_batches(session=session, job_id=job_id) or [0]
                batch_no = rng.choice(owed)
                work = repo.load_batch(session=session, job_id=job_id, batch_no=batch_no)
                chosen = rng.sample(work.photos, k=rng.randint(0, len(work.photos)))
                outcomes = [repo.PhotoOutcome(p.uri, reading(rng.choice(list(Status)[1:])), 1.0) for p in chosen]
                repo.save_batch(session=session, job_id=job_id, batch_no=batch_no, outcomes=outcomes)
        summary = job(sessions, job_id)
        rows = row_counts(sessions, job_id)
        assert {k: v for k, v in summary.counts.items() if v} == rows, f"step {step}"
        assert summary.total == sum(rows.values())


def test_writes_to_an_unknown_job_are_lookup_errors(sessions):
    with sessions() as session, session.begin():
        with pytest.raises(LookupError, match="no job nope"):
            repo.add_photos(session=session, job_id="nope", refs=refs(2), batch_size=4)
    with sessions() as session, session.begin():
        with pytest.raises(LookupError, match="no job nope"):
            repo.save_batch(session=session, job_id="nope", batch_no=0, outcomes=outcomes_for(refs(1)))
    with sessions() as session, session.begin():
        with pytest.raises(LookupError):
            repo.mark_job_state(session=session, job_id="nope", state="done")
        assert repo.get_job(session=session, job_id="nope") is None
        assert repo.load_batch(session=session, job_id="nope", batch_no=0) is None

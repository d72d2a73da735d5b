"""Job recording on a real SQLite file (no TF, no broker) and the export formats."""

from __future__ import annotations

import io
import json

import pytest

from model.reading import DigitConfidence, Reading, Status
from producer import jobs
from producer.output import parse_csv_rows, write_rows
from results.db import make_engine, make_session_factory, migrate
from results.repository import PhotoOutcome, iter_results, save_batch
from storage.refs import PhotoRef


@pytest.fixture
def session_factory(sqlite_url):
    engine = make_engine(sqlite_url)
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _refs(n: int, prefix: str = "s3://b/p/") -> list[PhotoRef]:
    return [PhotoRef(f"{prefix}{i:04d}.jpg", etag=f"e{i}", size=100 + i) for i in range(n)]


def test_batches_are_numbered_across_listing_chunks(session_factory, monkeypatch):
    monkeypatch.setattr(jobs, "DEFAULT_LISTING_CHUNK", 7)
    plan = jobs.record_job("s3://b/p/", iter(_refs(23)), session_factory=session_factory, model_version="v1",
                           profile=None, force=False, batch_size=5)
    assert (plan.listed, plan.skipped, plan.total) == (23, 0, 23)
    assert list(plan.batches) == list(range(len(plan.batches)))
    summary = jobs.get_summary(plan.job_id, session_factory=session_factory)
    assert summary.total == 23 and summary.state == "queued"
    assert jobs.owed_batches(plan.job_id, session_factory=session_factory) == list(plan.batches)


def test_skip_already_read_unless_forced_and_empty_jobs_are_done(session_factory):
    refs = _refs(6)
    first = jobs.record_job("src", refs, session_factory=session_factory, model_version="v1", profile=None,
                            force=False, batch_size=10)
    reading = Reading(Status.ACCEPTED, "0042", 0.99, digits=(DigitConfidence("0", 0.99),), model_version="v1")
    with session_factory() as session, session.begin():
        save_batch(session=session, job_id=first.job_id, batch_no=0,
                   outcomes=[PhotoOutcome(r.uri, reading, 1.0) for r in refs])
    again = jobs.record_job("src", refs, session_factory=session_factory, model_version="v1", profile=None,
                            force=False, batch_size=10)
    assert (again.skipped, again.total, again.batches) == (6, 0, ())
    assert jobs.get_summary(again.job_id, session_factory=session_factory).state == "done"
    other_model = jobs.record_job("src", refs, session_factory=session_factory, model_version="v2", profile=None,
                                  force=False, batch_size=10)
    assert other_model.total == 6
    forced = jobs.record_job("src", refs, session_factory=session_factory, model_version="v1", profile=None,
                             force=True, batch_size=4)
    assert (forced.total, len(forced.batches)) == (6, 2)


def test_wait_for_job_reports_progress_and_times_out(session_factory):
    plan = jobs.record_job("src", _refs(3), session_factory=session_factory, model_version="v1", profile=None,
                           force=False, batch_size=10)
    seen = []
    with pytest.raises(TimeoutError):
        jobs.wait_for_job(plan.job_id, session_factory=session_factory, on_progress=lambda d, t: seen.append((d, t)),
                          poll_s=0.01, timeout_s=0.05)
    assert seen and seen[0] == (0, 3)


def test_unknown_jobs_are_lookup_errors(session_factory):
    with pytest.raises(LookupError, match="no jobs yet"):
        jobs.get_summary(None, session_factory=session_factory)
    with pytest.raises(LookupError, match="no job nope"):
        jobs.owed_batches("nope", session_factory=session_factory)


def test_model_version_matches_the_runtime_rule(tmp_path):
    (tmp_path / "reader").mkdir()
    (tmp_path / "reader" / "metadata.json").write_text(json.dumps({"version": "r7"}))
    assert jobs.model_version(tmp_path) == "r7"
    (tmp_path / "locator").mkdir()
    (tmp_path / "locator" / "metadata.json").write_text(json.dumps({"version": "l3"}))
    assert jobs.model_version(tmp_path) == "r7+l3"
    with pytest.raises(FileNotFoundError):
        jobs.model_version(tmp_path / "nowhere")


def test_csv_and_jsonl_exports_parse_back_to_the_same_rows(session_factory):
    refs = _refs(3)
    plan = jobs.record_job("src", refs, session_factory=session_factory, model_version="v1", profile=None,
                           force=False, batch_size=10)
    outcomes = [
        PhotoOutcome(refs[0].uri, Reading(Status.ACCEPTED, "0042", 0.987654321,
                                          digits=(DigitConfidence("0", 0.9), DigitConfidence("4", 0.8)),
                                          model_version="v1", value="00.42"), 12.5),
        PhotoOutcome(refs[1].uri, Reading.failed(Status.ERROR, 'not an image, "really"', "v1"), 3.0),
        PhotoOutcome(refs[2].uri, Reading.failed(Status.UNREADABLE, "blank image", "v1"), 4.0),
    ]
    with session_factory() as session, session.begin():
        save_batch(session=session, job_id=plan.job_id, batch_no=0, outcomes=outcomes)
    with session_factory() as session:
        rows = [row.to_json_dict() for row in iter_results(session=session, job_id=plan.job_id)]
    as_jsonl, as_csv = io.StringIO(), io.StringIO()
    assert write_rows(rows, as_jsonl, "jsonl") == write_rows(rows, as_csv, "csv") == 3
    from_jsonl = [json.loads(line) for line in as_jsonl.getvalue().splitlines()]
    from_csv = parse_csv_rows(as_csv.getvalue())
    assert from_jsonl == json.loads(json.dumps(rows, default=str))
    for original, parsed in zip(rows, from_csv, strict=True):
        assert parsed["source"] == original["source"] and parsed["status"] == original["status"]
        assert parsed["reading"] == original["reading"] and parsed["reason"] == original["reason"]
        assert parsed["digits"] == original["digits"]
        assert (float(parsed["confidence"]) if parsed["confidence"] else None) == original["confidence"]
    table = io.StringIO()
    write_rows(rows, table, "table")
    assert "accepted" in table.getvalue() and "(blank image)" in table.getvalue()


@pytest.mark.model
def test_model_version_read_without_tensorflow_equals_the_runtime_one():
    """What the producer records in a job must be what workers store in every row."""
    from producer.settings import SHIPPED_MODEL_DIR
    from workers.resources import load_models_quietly

    assert jobs.model_version(SHIPPED_MODEL_DIR) == load_models_quietly(SHIPPED_MODEL_DIR).version

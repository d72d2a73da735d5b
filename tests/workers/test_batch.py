"""`process_batch` against a real SQLite results DB and the tiny untrained reader: error rows
with reasons, idempotence, the attempt cap, poison photos and the soft time limit."""

from __future__ import annotations

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from producer.jobs import record_job
from producer.settings import Settings
from results.repository import get_job, iter_results, load_batch, record_attempt
from storage.listing import list_photos
from tests.integration.photos import NOT_AN_IMAGE, meter_jpeg

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def resources(tiny_model_dir, tmp_path_factory):
    from workers.resources import create_resources

    db = tmp_path_factory.mktemp("db") / "results.db"
    settings = Settings(database_url=f"sqlite:///{db}", model_dir=tiny_model_dir, max_attempts=2)
    from results.db import make_engine, migrate

    migrate(make_engine(settings.database_url.get_secret_value()))
    made = create_resources(settings)
    yield made
    made.close()


def _job(resources, folder, *, batch_size=10) -> tuple[str, list[int]]:
    plan = record_job(str(folder), list_photos(str(folder)), session_factory=resources.session_factory,
                      model_version=resources.models.version, profile=None, force=True, batch_size=batch_size)
    return plan.job_id, list(plan.batches)


def _rows(resources, job_id):
    with resources.session_factory() as session:
        return {row.source.rsplit("/", 1)[-1]: row for row in iter_results(session=session, job_id=job_id)}


@pytest.fixture
def folder(tmp_path):
    for i in range(3):
        (tmp_path / f"meter{i}.jpg").write_bytes(meter_jpeg(i))
    (tmp_path / "text.jpg").write_bytes(NOT_AN_IMAGE)
    (tmp_path / "empty.jpg").write_bytes(b"")
    return tmp_path


def test_one_row_per_photo_with_reasons_and_idempotent(resources, folder):
    from workers.batch import process_batch

    job_id, (batch,) = _job(resources, folder)
    (folder / "meter2.jpg").unlink()  # listed, then gone before the worker came: `error`
    report = process_batch(job_id, batch, resources)
    assert report.photos == 5 and report.attempt == 1
    rows = _rows(resources, job_id)
    assert (rows["text.jpg"].status, rows["text.jpg"].reason) == ("error", "not an image")
    assert (rows["empty.jpg"].status, rows["empty.jpg"].reason) == ("error", "empty file")
    assert rows["meter2.jpg"].status == "error" and rows["meter2.jpg"].reason
    assert {rows[f"meter{i}.jpg"].status for i in (0, 1)} <= {"accepted", "review", "unreadable"}
    again = process_batch(job_id, batch, resources)  # a redelivered task
    assert again.skipped == "already done"
    assert len(_rows(resources, job_id)) == 5
    with resources.session_factory() as session:
        job = get_job(session=session, job_id=job_id)
    assert job.state == "done" and sum(job.counts.values()) == 5


def test_attempt_cap_turns_a_poison_batch_into_error_rows(resources, folder):
    from workers.batch import process_batch

    job_id, (batch,) = _job(resources, folder)
    for _ in range(2):  # two earlier tries that crashed before writing anything
        with resources.session_factory() as session, session.begin():
            record_attempt(session=session, job_id=job_id, batch_no=batch)
    report = process_batch(job_id, batch, resources)
    assert report.counts == {"error": 5}
    assert {row.reason for row in _rows(resources, job_id).values()} == {"gave up after 2 attempts"}


def test_a_photo_that_breaks_the_reader_does_not_fail_its_neighbours(resources, folder, monkeypatch):
    import model.pipeline
    from workers.batch import process_batch

    real = model.pipeline.read_images

    def fragile(images, models, **kwargs):
        if any(image.shape[1] == 481 for image in images):
            raise RuntimeError("boom")
        return real(images, models, **kwargs)

    (folder / "odd.jpg").write_bytes(meter_jpeg(7, size=(481, 360)))
    monkeypatch.setattr(model.pipeline, "read_images", fragile)
    job_id, (batch,) = _job(resources, folder)
    process_batch(job_id, batch, resources)
    rows = _rows(resources, job_id)
    assert (rows["odd.jpg"].status, rows["odd.jpg"].reason) == ("error", "reader failed: RuntimeError: boom")
    assert rows["meter0.jpg"].status != "error"


def test_soft_time_limit_keeps_finished_rows_and_leaves_the_rest_owed(resources, folder, monkeypatch):
    import model.pipeline
    from workers.batch import process_batch

    real = model.pipeline.read_images

    def too_slow(images, models, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(model.pipeline, "read_images", too_slow)
    job_id, (batch,) = _job(resources, folder)
    with pytest.raises(SoftTimeLimitExceeded):
        process_batch(job_id, batch, resources)
    rows = _rows(resources, job_id)
    assert rows["text.jpg"].status == "error" and rows["empty.jpg"].status == "error"
    assert {rows[f"meter{i}.jpg"].status for i in range(3)} == {"pending"}
    with resources.session_factory() as session:
        work = load_batch(session=session, job_id=job_id, batch_no=batch)
    assert not work.done and sorted(p.uri.rsplit("/", 1)[-1] for p in work.photos) == [
        "meter0.jpg", "meter1.jpg", "meter2.jpg"]
    monkeypatch.setattr(model.pipeline, "read_images", real)
    retry = process_batch(job_id, batch, resources)  # the retry reads only what is still pending
    assert retry.photos == 3
    assert "pending" not in {row.status for row in _rows(resources, job_id).values()}

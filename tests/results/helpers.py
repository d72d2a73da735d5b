"""Small builders shared by the results tests."""

from model.reading import DigitConfidence, Reading, Status
from results import repository as repo
from storage.refs import PhotoRef

MODEL = "reader-test-1"


def refs(n: int, *, bucket: str = "bucket", start: int = 0) -> list[PhotoRef]:
    return [PhotoRef(f"s3://{bucket}/p/{i:05d}.jpg", etag=f"etag{i}", size=1000 + i) for i in range(start, start + n)]


def reading(status: Status = Status.ACCEPTED, value: str = "0042917", model: str = MODEL) -> Reading:
    if status is Status.ERROR:
        return Reading.failed(Status.ERROR, "not an image", model)
    if status is Status.UNREADABLE:
        return Reading.failed(Status.UNREADABLE, "blank frame", model)
    digits = tuple(DigitConfidence(d, 0.99) for d in value)
    return Reading(status=status, reading=value, confidence=0.97, digits=digits, model_version=model, value=value)


def outcomes_for(photos, status: Status = Status.ACCEPTED, value: str = "0042917") -> list[repo.PhotoOutcome]:
    return [repo.PhotoOutcome(uri=p.uri, reading=reading(status, value), processing_ms=12.5) for p in photos]


def new_job(sessions, photos, *, batch_size: int = 4, listed: bool = True) -> tuple[str, list[int]]:
    with sessions() as session, session.begin():
        job_id = repo.create_job(session=session, source="s3://bucket/p/", model_version=MODEL, profile=None,
                                 force=False)
        batch_nos = repo.add_photos(session=session, job_id=job_id, refs=photos, batch_size=batch_size)
        if listed:
            repo.set_job_total(session=session, job_id=job_id)
    return job_id, batch_nos


def run_batch(sessions, job_id: str, batch_no: int, status: Status = Status.ACCEPTED) -> None:
    """What a worker does: load the pending photos, then save one outcome each."""
    with sessions() as session, session.begin():
        work = repo.load_batch(session=session, job_id=job_id, batch_no=batch_no)
    with sessions() as session, session.begin():
        repo.save_batch(session=session, job_id=job_id, batch_no=batch_no, outcomes=outcomes_for(work.photos, status))


def row_counts(sessions, job_id: str) -> dict[str, int]:
    """Counts straight from the photo rows, to compare with the job's stored counts."""
    counts: dict[str, int] = {}
    with sessions() as session, session.begin():
        for row in repo.iter_results(session=session, job_id=job_id):
            counts[row.status] = counts.get(row.status, 0) + 1
    return counts

"""The same batch code without a broker: `meter-ocr run` (a whole job into SQLite or Postgres)
and `meter-ocr read` (photos straight to stdout). The model loads once, in this process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from producer.settings import Settings
from workers.batch import BatchReport, process_batch, read_photos, resolve_profile
from workers.resources import create_resources

log = logging.getLogger(__name__)


def run_job_here(
    job_id: str,
    batches: Sequence[int],
    *,
    settings: Settings,
    on_batch: Callable[[BatchReport], None] = lambda report: None,
) -> list[BatchReport]:
    """Process every batch in this process. A batch that raises is tried again; the attempt cap
    in the results DB turns a batch that keeps failing into `error` rows, as on a worker."""
    resources = create_resources(settings)
    reports = []
    try:
        for batch_no in batches:
            report = _process_with_retries(job_id, batch_no, resources)
            reports.append(report)
            on_batch(report)
    finally:
        resources.close()
    return reports


def _process_with_retries(job_id: str, batch_no: int, resources) -> BatchReport:
    for _ in range(resources.settings.max_attempts):
        try:
            return process_batch(job_id, batch_no, resources)
        except Exception:
            log.exception("job %s batch %s failed; trying again", job_id, batch_no)
    return process_batch(job_id, batch_no, resources)  # past the cap: writes the `error` rows


def read_refs_here(
    refs: Sequence,
    *,
    settings: Settings,
    s3_client,
    profile_spec: str | None = None,
    crop: bool = False,
    digits: int | None = None,
) -> Iterator:
    """Yield one PhotoOutcome per ref, in order, reading `batch_size` photos per model call."""
    from workers.resources import load_models_quietly

    models = load_models_quietly(settings.model_dir)
    profile = resolve_profile(profile_spec)
    for start in range(0, len(refs), settings.batch_size):
        chunk = refs[start:start + settings.batch_size]
        yield from read_photos(chunk, models=models, s3_client=s3_client, settings=settings,
                               profile=profile, crop=crop, digits=digits)

"""The one task: `meter_ocr.read_batch(job_id, batch_no)`; references in, rows out to the DB.

The body only gets this process's resources, calls `process_batch`, and decides on retries. Poison
batches are bounded by the attempt count kept in the results DB (Redis has no dead-letter queue),
so a batch that keeps failing ends as `error` rows instead of cycling forever.
"""

from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded

from producer.queue import TASK_NAME
from producer.settings import get_settings
from workers.app import app
from workers.batch import PhotosDeferred, process_batch
from workers.resources import init_process_resources

log = logging.getLogger(__name__)

DEFAULT_RETRY_BACKOFF_S = 5
DEFAULT_RETRY_BACKOFF_MAX_S = 120
# Retries for reasons the DB cannot count (the DB itself down) are capped here as well.
DEFAULT_MAX_RETRIES = 12


@app.task(name=TASK_NAME, bind=True, max_retries=DEFAULT_MAX_RETRIES)
def read_batch(self, job_id: str, batch_no: int) -> dict:
    """Read one batch. Returns a small summary (ignored by the result backend, logged)."""
    try:
        resources = init_process_resources(get_settings())
        report = process_batch(job_id, int(batch_no), resources)
    except SoftTimeLimitExceeded as exc:
        log.warning("job %s batch %s hit the soft time limit; re-queued", job_id, batch_no)
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    except PhotosDeferred as exc:  # throttling or an unreachable endpoint: expected, no traceback
        log.warning("job %s batch %s: %s", job_id, batch_no, exc)
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    except Exception as exc:
        # The attempt was recorded before reading; past max_attempts the next run gives up.
        log.exception("job %s batch %s failed; will retry", job_id, batch_no)
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    return {"job_id": job_id, "batch_no": report.batch_no, "counts": report.counts, "skipped": report.skipped}


def _backoff(retries: int) -> int:
    return min(DEFAULT_RETRY_BACKOFF_S * 2**retries, DEFAULT_RETRY_BACKOFF_MAX_S)

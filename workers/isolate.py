"""The retry path: a batch whose last try crashed its process, hung past the time limit or was
cut off is read again one photo at a time.

Each photo's attempt is committed BEFORE it is fetched and read, so a photo that kills the
process (a decoder segfault, the OOM killer, the hard time limit) is the one charged for it, and
past `max_attempts` it becomes an `error` row instead of taking its batch down again and again.
Every photo's row is saved as soon as it is read, so the finished ones survive the next crash.
Progress is guaranteed: each try either finishes a photo or charges one more attempt to it.
"""

from __future__ import annotations

import logging

from results import repository
from workers.batch import PhotosDeferred, give_up, read_photos, save_outcomes
from workers.resources import Resources

log = logging.getLogger(__name__)


def read_one_by_one(work, resources: Resources, *, profile, root) -> list:
    """Read and save the batch's pending photos one at a time; returns the saved outcomes.
    Raises PhotosDeferred at the end if some photos are to be fetched again later."""
    cap = resources.settings.max_attempts
    saved: list = []
    deferred: list = []
    for photo in work.photos:
        with resources.session_factory() as session, session.begin():
            tries = repository.record_photo_attempt(session=session, job_id=work.job_id, uri=photo.uri)
        if tries == 0:
            continue  # no longer pending: a duplicate delivery saved it meanwhile
        if tries > cap:
            log.warning("job %s: giving up on %s after %d attempts", work.job_id, photo.uri, tries - 1)
            outcome = give_up([photo], tries - 1, resources.models.version)[0]
        else:
            outcome, passing = _read_one(photo, resources, profile=profile, root=root)
            if passing is not None and tries < cap:
                deferred.append((photo.uri, passing))
                continue  # stays pending; a later try fetches it again
        save_outcomes(work.job_id, work.batch_no, [outcome], resources)
        saved.append(outcome)
    if deferred:
        raise PhotosDeferred(f"{len(deferred)} photos left pending ({deferred[0][1]}); the batch will be retried")
    return saved


def _read_one(photo, resources: Resources, *, profile, root):
    """(outcome, reason if its fetch failed for a passing reason else None)."""
    deferred: list = []
    (outcome,) = read_photos(
        [photo], models=resources.models, s3_client=resources.s3_client, settings=resources.settings,
        profile=profile, deferred=deferred, root=root,
    )
    return outcome, (deferred[0][1] if deferred else None)

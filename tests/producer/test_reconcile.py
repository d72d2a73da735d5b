"""`resume` asks the broker which batches it still carries: a long queue is read page by page
and every batch on it is found (real Redis)."""

from __future__ import annotations

import secrets

import pytest

from producer import reconcile
from producer.queue import make_client_app, send_batches
from producer.settings import Settings

pytestmark = pytest.mark.integration


def test_every_queued_batch_is_found_across_pages(redis_url, monkeypatch):
    import redis

    monkeypatch.setattr(reconcile, "PAGE", 7)
    queue = "reconcile-" + secrets.token_hex(4)
    app = make_client_app(Settings(broker_url=redis_url, queue=queue))
    assert send_batches(app, "job-a", range(23), queue=queue) == 23
    redis.Redis.from_url(redis_url).lpush(queue, b'{"not": "a task of ours"}')  # ignored, not an error
    assert reconcile.batches_on_broker(app, queue) == {("job-a", n) for n in range(23)}

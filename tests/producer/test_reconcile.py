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


def test_a_task_delivered_from_another_queue_is_not_counted(redis_url):
    """The unacked hash is shared by every queue on the Redis database: a batch another queue's
    worker holds is that queue's, not this one's."""
    queue, other = ("reconcile-" + secrets.token_hex(4) for _ in range(2))
    app = make_client_app(Settings(broker_url=redis_url, queue=queue))
    assert send_batches(app, "job-a", range(2), queue=queue) == 2
    assert send_batches(app, "job-b", [7], queue=other) == 1
    with app.connection_for_write() as conn:
        held = conn.default_channel.basic_get(other, no_ack=False)  # delivered, never acknowledged
        assert held is not None
        assert reconcile.batches_on_broker(app, queue) == {("job-a", 0), ("job-a", 1)}
        assert reconcile.batches_on_broker(app, other) == {("job-b", 7)}
        held.reject(requeue=False)

"""Reconcile the results DB with the broker: which owed batches are really gone from Redis.

`resume` re-queues only batches that the results DB says are owed AND that no task on the broker
still carries (waiting in the queue, or delivered to a worker and not yet acknowledged), so it is
safe to run while workers are busy, e.g. from cron after any incident.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable

from producer.queue import TASK_NAME

PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport keys priority queues as QUEUE + sep + n
PAGE = 1000  # queued messages read per LRANGE: a queue of a night's batches never sits in memory whole


def batches_on_broker(app, queue: str) -> set[tuple[str, int]] | None:
    """(job_id, batch_no) of every `read_batch` task waiting in `queue` or delivered and not yet
    acknowledged. None when the broker is not Redis (the caller then re-queues all that is owed)."""
    if not str(app.conf.broker_url).startswith(("redis://", "rediss://")):
        return None
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        client = channel.client
        keys = [queue, *(key.decode() for key in client.scan_iter(match=f"{queue}{PRIORITY_SEPARATOR}*"))]
        waiting = set(_batch_refs(raw for key in keys for raw in _queued(client, key)))
        unacked = [_unacked_message(raw, queue) for raw in client.hvals(channel.unacked_key)]
    return waiting | set(_batch_refs(unacked))


def _queued(client, key: str) -> Iterable[bytes]:
    """The messages of one Redis list, a page at a time, from the end new tasks are pushed to.
    Workers take from the other end, so a task taken mid-read shifts no index not yet read (it
    is then in the unacked hash, read after); a task pushed mid-read shifts them by one, which
    can only show a message twice."""
    start = 0
    while True:
        page = client.lrange(key, start, start + PAGE - 1)
        yield from page
        if len(page) < PAGE:
            return
        start += PAGE


def _unacked_message(raw: bytes, queue: str) -> str | None:
    """The message of one unacked entry if it was delivered from `queue`, else None. The hash is
    one per Redis database, shared by every queue on it: another queue's deliveries are not ours.
    Celery declares each queue with an exchange and routing key of its own name."""
    try:
        message, exchange, routing_key = json.loads(raw)  # stored as [message, exchange, routing key]
    except (ValueError, TypeError):
        return None
    return json.dumps(message) if queue in (routing_key, exchange) else None


def _batch_refs(raw_messages: Iterable[bytes | str | None]) -> Iterable[tuple[str, int]]:
    for raw in raw_messages:
        try:
            message = json.loads(raw)
            if message.get("headers", {}).get("task") != TASK_NAME:
                continue
            body = message["body"]
            if message.get("properties", {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            yield str(args[0]), int(args[1])
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue  # not one of ours, or not JSON (a refused pickle): it carries no batch

"""What `meter-ocr enqueue` puts on the broker, exactly: one JSON `meter_ocr.read_batch(job_id,
batch_no)` message per batch the results DB holds, on the configured queue (real Redis)."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys

import pytest

from tests.integration.photos import meter_jpeg

pytestmark = pytest.mark.integration


def test_enqueue_sends_exactly_the_recorded_batches(redis_url, sqlite_url, tmp_path):
    import redis

    from producer.jobs import owed_batches
    from results.db import make_engine, make_session_factory

    for i in range(7):
        (tmp_path / f"{i}.jpg").write_bytes(meter_jpeg(i))
    (tmp_path / "model" / "reader").mkdir(parents=True)
    (tmp_path / "model" / "reader" / "metadata.json").write_text('{"version": "meta-only"}')
    queue = "exact-" + secrets.token_hex(4)
    env = {"PATH": "/usr/bin:/bin", "METER_OCR_BROKER_URL": redis_url, "METER_OCR_DATABASE_URL": sqlite_url,
           "METER_OCR_MODEL_DIR": str(tmp_path / "model"), "METER_OCR_QUEUE": queue}
    result = subprocess.run([sys.executable, "-m", "producer.cli", "enqueue", str(tmp_path), "--batch-size", "3"],
                            capture_output=True, text=True, env=env, check=True)
    job_id = result.stdout.strip()
    messages = [json.loads(raw) for raw in redis.Redis.from_url(redis_url).lrange(queue, 0, -1)]
    assert len(messages) == 3
    sent = []
    for message in messages:
        assert message["content-type"] == "application/json"
        assert message["headers"]["task"] == "meter_ocr.read_batch"
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert kwargs == {}
        sent.append(tuple(args))
    engine = make_engine(sqlite_url)
    owed = owed_batches(job_id, session_factory=make_session_factory(engine))
    engine.dispose()
    assert sorted(sent) == [(job_id, n) for n in owed] == [(job_id, 0), (job_id, 1), (job_id, 2)]

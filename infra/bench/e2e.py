#!/usr/bin/env python3
"""End-to-end throughput and worker memory, on this machine, with real services.

    .venv/bin/python infra/bench/e2e.py --photos 1000                 # throughput only
    .venv/bin/python infra/bench/e2e.py --photos 1000 --long 10000    # + RSS over a long run

1. compute only: the photos' JPEG bytes, in memory, decoded with the serving guards and read
   by `read_images` in batches, no services, in as many processes as the worker has pool
   children, each with a pool child's TensorFlow threads and decode threads
   (`model.bench_photos.run_processes`, the whole-photo speed benchmark).
2. end to end: the same photos as S3 objects (moto's server), `meter-ocr enqueue` (listing, job
   rows, Redis messages; run in this process) -> a real `meter-ocr worker` -> Postgres; timed
   from the enqueue until the job is done in the results DB. Worker start-up (model load) and
   the CLI interpreter's start-up are not timed: both are once per night, not per photo.
3. --long N: N more photos through the same worker; the RSS of its parent and pool children is
   sampled from /proc every second. Growth = last sample / sample after the first 5% of photos.

Redis, Postgres (fsync off, as in the tests) and moto run on this same 2-core machine, so their
CPU is charged to the end-to-end number. Prints one JSON object at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from producer.settings import SHIPPED_MODEL_DIR  # noqa: E402  (after the sys.path line above)


def upload(s3_client, bucket: str, prefix: str, photos: list[bytes]) -> None:
    def put(item):
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}{item[0]:06d}.jpg", Body=item[1])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, enumerate(photos)))


def enqueue_here(source: str) -> str:
    """`meter-ocr enqueue SOURCE` in this process (imported before the clock starts: the
    interpreter's start-up, a constant per night, is not throughput). Listing, job rows and
    messages are all timed."""
    import contextlib
    import io

    from producer.cli import main as meter_ocr

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        meter_ocr.main(["enqueue", source], standalone_mode=False)
    return out.getvalue().split()[0]


def run_job(source: str, session_factory, cpu_parts: dict[str, int]) -> dict:
    """Enqueue `source`, wait until its job is done; seconds for enqueue and for the whole job,
    and the CPU each part of the system used per photo meanwhile."""
    import producer.cli  # noqa: F401  (imported here, untimed: see enqueue_here)
    from producer.jobs import get_summary

    cpu_before = cpu_snapshot(cpu_parts)
    started = time.perf_counter()
    job_id = enqueue_here(source)
    enqueued = time.perf_counter()
    while get_summary(job_id, session_factory=session_factory).state != "done":
        time.sleep(0.25)
    done = time.perf_counter()
    cpu_after = cpu_snapshot(cpu_parts)
    summary = get_summary(job_id, session_factory=session_factory)
    photos = sum(n for status, n in summary.counts.items() if status != "pending")
    cpu_ms = {name: round(1000 * (cpu_after[name] - cpu_before[name]) / max(photos, 1), 1) for name in cpu_after}
    return {"job_id": job_id, "photos": photos, "enqueue_s": round(enqueued - started, 2), "cpu_ms_per_photo": cpu_ms,
            "wall_s": round(done - started, 2), "photos_per_s": round(photos / (done - started), 1),
            "statuses": {s: n for s, n in summary.counts.items() if n}}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WORKER_PART = "worker (parent + pool)"


def cpu_s(pid: int, *, with_live_children: bool = True) -> float:
    """CPU seconds used by `pid`, its reaped children, and (optionally) its live children."""
    from tests.integration.harness import child_pids

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = sum(int(v) for v in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
    if with_live_children:
        for child in child_pids(pid):
            try:
                used += cpu_s(child, with_live_children=False)
            except OSError:
                pass
    return used


def cpu_snapshot(parts: dict[str, int]) -> dict[str, float]:
    import resource

    snapshot = {name: cpu_s(pid) for name, pid in parts.items()}
    worker = parts.get(WORKER_PART)
    if worker is not None:  # the Celery parent's own share (consumer, events), pool excluded
        snapshot["of which the Celery parent"] = cpu_s(worker, with_live_children=False)
    own = resource.getrusage(resource.RUSAGE_SELF)
    snapshot["producer (enqueue, polling)"] = own.ru_utime + own.ru_stime
    return snapshot


class RssSampler:
    """Samples the worker's parent and children RSS (kB) once a second in a thread."""

    def __init__(self, worker):
        from tests.integration.harness import rss_kb

        self.worker, self.rss_kb = worker, rss_kb
        self.samples: list[tuple[float, int, int]] = []  # (t, parent kB, children kB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                children = sum(self.rss_kb(pid) for pid in self.worker.children())
                self.samples.append((time.monotonic(), self.rss_kb(self.worker.pid), children))
            except OSError:  # a child being recycled between listing and reading
                continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def rss_report(samples, warm_fraction: float = 0.05) -> dict:
    if len(samples) < 3:
        return {"samples": len(samples)}
    warm = samples[max(1, int(len(samples) * warm_fraction))]
    last = samples[-1]
    return {"samples": len(samples), "parent_kb": [warm[1], last[1]], "children_kb": [warm[2], last[2]],
            "children_max_kb": max(s[2] for s in samples),
            "children_growth_pct": round(100 * (last[2] - warm[2]) / warm[2], 1),
            "parent_growth_pct": round(100 * (last[1] - warm[1]) / warm[1], 1)}


def end_to_end(args, photos: list[bytes], long_photos: list[bytes]) -> dict:
    from results.db import make_engine, make_session_factory
    from storage.s3 import make_s3_client
    from tests.integration.harness import Stack, Worker
    from tests.services import TEST_AWS_ENV, PostgresServer, RedisServer, S3Server

    os.environ.update(TEST_AWS_ENV)
    logs = Path(tempfile.mkdtemp(prefix="meter-ocr-bench-"))
    redis, postgres, s3 = RedisServer().start(), PostgresServer().start(), S3Server().start()
    worker = None
    try:
        s3_client = make_s3_client(endpoint_url=s3.endpoint, max_pool_connections=16)
        bucket = "bench-" + secrets.token_hex(3)
        s3_client.create_bucket(Bucket=bucket)
        upload(s3_client, bucket, "e2e/", photos)
        stack = Stack(database_url=postgres.create_database(), broker_url=redis.url, s3_endpoint=s3.endpoint,
                      model_dir=args.model_dir, queue="bench",
                      extra_env={"METER_OCR_BATCH_SIZE": str(args.batch_size)})
        worker = Worker(stack, logs / "worker.log", name="bench", concurrency=args.concurrency, via_cli=True)
        worker.wait_ready(children=args.concurrency, timeout_s=300)
        os.environ.update(stack.env())  # for the in-process enqueue
        engine = make_engine(stack.database_url)
        factory = make_session_factory(engine)
        postmaster = int((postgres.datadir / "postmaster.pid").read_text().split()[0])
        parts = {WORKER_PART: worker.pid, "moto S3 server": s3.process.pid,
                 "redis": redis.process.pid, "postgres": postmaster}
        result = {"e2e": run_job(f"s3://{bucket}/e2e/", factory, parts)}
        if long_photos:
            upload(s3_client, bucket, "long/", long_photos)
            with RssSampler(worker) as sampler:
                result["long"] = run_job(f"s3://{bucket}/long/", factory, parts)
            result["long"]["rss"] = rss_report(sampler.samples)
            result["long"]["child_pids_at_end"] = worker.children()
        engine.dispose()
        result["worker_log"] = str(logs / "worker.log")
        return result
    finally:
        if worker is not None:
            worker.stop()
        s3.stop()
        postgres.stop()
        redis.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=1000, help="photos for the throughput comparison")
    parser.add_argument("--long", type=int, default=0, help="photos for the RSS run (0: skip)")
    parser.add_argument("--size", default="640x480", help="photo size WxH")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=None, help="worker pool processes [default: CPU cores]")
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    args = parser.parse_args(argv)
    from workers.launch import default_concurrency

    args.concurrency = args.concurrency or default_concurrency()
    from model.bench_photos import jpeg_photos, run_processes
    from workers.decode import DEFAULT_DECODE_THREADS

    width, height = (int(v) for v in args.size.split("x"))
    photos = jpeg_photos(width, height, args.photos)
    long_photos = jpeg_photos(width, height, args.long, seed=12) if args.long else []
    result = {"size": args.size, "batch_size": args.batch_size, "concurrency": args.concurrency,
              "mean_jpeg_kb": round(sum(map(len, photos)) / len(photos) / 1024, 1)}
    result["compute_only"] = run_processes(photos, args.model_dir, batch=args.batch_size,
                                           processes=args.concurrency, decode_threads=DEFAULT_DECODE_THREADS)
    result.update(end_to_end(args, photos, long_photos))
    result["e2e_vs_compute"] = round(result["e2e"]["photos_per_s"] / result["compute_only"]["photos_per_s"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

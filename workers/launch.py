"""`meter-ocr worker`: start a Celery worker with the prefork pool and our limits.

Only the prefork pool keeps time limits and child recycling (RELIABILITY.md), so the pool is not
an option. Concurrency defaults to one process per GPU, else one per CPU core. Explicit CLI
values are exported as METER_OCR_* so the pool children (which read `get_settings()`) see them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from producer.settings import Settings, get_settings

_EXPORTED_FIELDS = ("database_url", "broker_url", "s3_endpoint_url", "model_dir", "queue")

# The pool size, noted in the Celery parent before it forks; pool children inherit it.
_pool_processes: int | None = None


def gpu_count() -> int:
    """GPUs this process may use, found without importing TensorFlow (never in the parent)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    return len([p for p in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name)])


def default_concurrency() -> int:
    return gpu_count() or len(os.sched_getaffinity(0))


def note_pool_size(processes: int | None) -> None:
    """In the Celery parent, before the pool forks: how many processes will share the cores."""
    global _pool_processes
    _pool_processes = processes if isinstance(processes, int) and processes > 0 else None


def tf_threads_per_process(processes: int | None = None) -> int | None:
    """TensorFlow threads for each of `processes` processes (default: the noted pool size) that
    share this machine's cores: their share of the cores, so that two pool children on two cores
    run two compute threads rather than four that preempt each other and the S3 fetches. None
    (TensorFlow's default, every core) for a process that has the machine to itself."""
    processes = processes or _pool_processes
    if not processes or processes < 2:
        return None
    return max(1, len(os.sched_getaffinity(0)) // processes)


def export_settings(settings: Settings) -> None:
    """Make the given settings what `get_settings()` returns here and in every pool child."""
    for name in _EXPORTED_FIELDS:
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        os.environ[f"METER_OCR_{name.upper()}"] = str(value)
    get_settings.cache_clear()


def worker_argv(settings: Settings, *, concurrency: int | None, loglevel: str, hostname: str | None) -> list[str]:
    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency or default_concurrency()}",
        f"--queues={settings.queue}",
        f"--loglevel={loglevel}",
        "--task-events",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    return argv


def start_worker(settings: Settings, *, concurrency: int | None, loglevel: str, hostname: str | None) -> None:
    """Blocks until the worker stops (warm shutdown on SIGTERM)."""
    if settings.broker_url is None:
        from producer.queue import BrokerUnavailable

        raise BrokerUnavailable("no broker configured: set METER_OCR_BROKER_URL (or --broker-url)")
    export_settings(settings)
    from workers.app import app

    app.worker_main(worker_argv(settings, concurrency=concurrency, loglevel=loglevel, hostname=hostname))


def pin_child_to_gpu() -> str | None:
    """In a pool child, before TensorFlow loads: see only GPU (child index mod GPU count), so N
    children on N GPUs each own one. Returns the device chosen, or None (CPU / single GPU)."""
    from billiard.process import current_process

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = [d.strip() for d in visible.split(",")] if visible else [str(i) for i in range(gpu_count())]
    index = getattr(current_process(), "index", None)
    if len(devices) < 2 or index is None:
        return None
    os.environ["CUDA_VISIBLE_DEVICES"] = devices[index % len(devices)]
    return os.environ["CUDA_VISIBLE_DEVICES"]

"""Heavy per-process resources: the models, one boto3 client, one DB engine.

Created once per worker CHILD, after fork (`worker_process_init`, or lazily by the first task in
pools that have no such hook), then passed down to `process_batch`. No helper creates a client or
an engine on its own. The Celery parent must never build these: a TensorFlow runtime initialised
before fork makes the children hang on their first op (../shared/RELIABILITY.md).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from producer.settings import Settings
from workers.launch import tf_threads_per_process

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """Everything `process_batch` needs, built once per process."""

    settings: Settings
    models: Any  # model.runtime.Models (typed loosely: importing it would pull TensorFlow)
    s3_client: Any
    engine: Any
    session_factory: Any
    pid: int

    def close(self) -> None:
        self.engine.dispose()


def create_resources(settings: Settings, *, models: Any | None = None) -> Resources:
    """Load the models and open the clients. `models` may be passed in to share an already
    loaded reader (the embedded `run` and the benchmark load it once)."""
    from results.db import make_engine, make_session_factory
    from storage.s3 import make_s3_client

    engine = make_engine(settings.database_url.get_secret_value())
    connect_before_tensorflow(engine)
    threads = tf_threads_per_process()
    if models is None:
        models = load_models_quietly(settings.model_dir, threads=threads)
        warm_up(models, settings.batch_size)
    s3_client = make_s3_client(
        endpoint_url=settings.s3_endpoint_url,
        max_pool_connections=settings.fetch_concurrency,
    )
    log.info("resources ready in pid %s (model %s, TensorFlow threads %s)", os.getpid(), models.version,
             threads or "default")
    return Resources(
        settings=settings,
        models=models,
        s3_client=s3_client,
        engine=engine,
        session_factory=make_session_factory(engine),
        pid=os.getpid(),
    )


def warm_up(models, batch_size: int) -> None:
    """Call the locator and the reader once at the shapes a batch will use, before the first
    task: a SavedModel's first call (and each new input shape) costs seconds of one-off set-up
    on the CPU, which would otherwise land on the first batch of every (recycled) child."""
    import numpy as np

    started = time.perf_counter()
    runners = [(models.reader, min(2 * batch_size, models.reader.batch_size))]
    if models.locator is not None:
        runners.append((models.locator, min(batch_size, models.locator.batch_size)))
    for runner, rows in runners:
        shape = tuple(runner.input_spec.shape[1:])
        runner.predict_outputs(np.zeros((rows, *shape), np.float32))
    log.info("models warmed up in %.1fs", time.perf_counter() - started)


def connect_before_tensorflow(engine) -> None:
    """Open (and return to the pool) one DB connection before TensorFlow loads.

    Measured here: once TensorFlow is loaded, psycopg's first TLS connection aborts the process
    ("free(): invalid pointer"; its bundled OpenSSL binds to TensorFlow's copy), while TLS
    connections opened after one made earlier keep working. A database that is down now is not
    fatal: the first task connects later (and with TLS the child dies once and is replaced)."""
    from results.db import DatabaseUnavailable, check_connection

    try:
        check_connection(engine)
    except DatabaseUnavailable as exc:
        log.warning("results database not reachable at start-up (%s); connecting at the first task", exc)


def load_models_quietly(model_dir, *, threads: int | None = None):
    """`model.runtime.load_models`, with TensorFlow's native start-up chatter (CUDA probing,
    CPU flags, written straight to fd 2 before its logging is set up) kept off the terminal.
    Python exceptions still carry their messages; METER_OCR_DEBUG=1 shows everything."""
    if os.environ.get("METER_OCR_DEBUG"):
        from model.runtime import load_models

        return load_models(model_dir, threads=threads)
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        from model.runtime import load_models  # TensorFlow: only here, only in a child

        return load_models(model_dir, threads=threads)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_process_resources: Resources | None = None


def init_process_resources(settings: Settings) -> Resources:
    """Build this process's resources (idempotent per pid: a forked copy rebuilds its own)."""
    global _process_resources
    if _process_resources is None or _process_resources.pid != os.getpid():
        _process_resources = create_resources(settings)
    return _process_resources


def close_process_resources() -> None:
    global _process_resources
    if _process_resources is not None and _process_resources.pid == os.getpid():
        _process_resources.close()
    _process_resources = None

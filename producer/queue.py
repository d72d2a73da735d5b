"""A minimal Celery client for the producer: it sends `meter_ocr.read_batch` by name.

The producer never imports `workers` (and so never TensorFlow); the task is addressed only by
its name and JSON arguments (job id, batch number), never by payload.
"""

from __future__ import annotations

from collections.abc import Iterable

from celery import Celery

from producer.settings import Settings

TASK_NAME = "meter_ocr.read_batch"


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or is not configured."""


def make_client_app(settings: Settings) -> Celery:
    """A Celery app that can only send: JSON, our queue, retries bounded so errors surface."""
    if settings.broker_url is None:
        raise BrokerUnavailable("no broker configured: set METER_OCR_BROKER_URL (or --broker-url)")
    app = Celery("meter_ocr_producer", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url.get_secret_value(),
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=False,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=settings.queue,
    )
    return app


def send_batches(app: Celery, job_id: str, batch_numbers: Iterable[int], *, queue: str) -> int:
    """Queue one `read_batch` task per batch; returns how many were sent."""
    sent = 0
    retry_policy = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5}
    try:
        with app.producer_or_acquire() as publisher:
            for batch_no in batch_numbers:
                app.send_task(
                    TASK_NAME,
                    args=(job_id, int(batch_no)),
                    queue=queue,
                    producer=publisher,
                    retry=True,
                    retry_policy=retry_policy,
                )
                sent += 1
    except Exception as exc:  # kombu raises many transport types; name the broker, not a trace
        if isinstance(exc, (BrokerUnavailable,)):
            raise
        raise BrokerUnavailable(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc
    return sent


def check_broker(app: Celery, *, timeout: float = 3.0) -> None:
    """Fail fast with BrokerUnavailable instead of letting kombu retry forever."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:
        raise BrokerUnavailable(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc

"""Celery settings derived from the one `Settings` object (see ../shared/RELIABILITY.md).

Kept as a function of `Settings`, not module-level constants, so that importing the app reads no
environment; Celery evaluates it lazily the first time the configuration is needed.
"""

from __future__ import annotations

from producer.queue import TASK_NAME
from producer.settings import Settings

# A child that loads TensorFlow and a SavedModel needs far longer than Celery's 4 s default.
DEFAULT_PROC_ALIVE_TIMEOUT = 120.0  # load + warm-up took 10-20 s here on a busy 2-core box


def celery_config(settings: Settings) -> dict:
    """Map our settings onto Celery's names. Raises ValueError when the limits are unsafe."""
    if settings.task_time_limit >= settings.visibility_timeout:
        # Redis re-delivers an unacked task after the visibility timeout, even while it runs.
        raise ValueError(
            f"task_time_limit ({settings.task_time_limit}s) must be well under "
            f"visibility_timeout ({settings.visibility_timeout}s)"
        )
    if settings.task_soft_time_limit >= settings.task_time_limit:
        raise ValueError("task_soft_time_limit must be below task_time_limit")
    broker = settings.broker_url.get_secret_value() if settings.broker_url else None
    return {
        "broker_url": broker,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": 10,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # A surviving worker sweeps for tasks of a dead one every 10 s (kombu's default only
            # scans every 10th sweep, ~100 s); each sweep is one cheap ZRANGE on Redis.
            "unacked_restore_throttle": 1,
        },
        "task_default_queue": settings.queue,
        "task_routes": {TASK_NAME: {"queue": settings.queue}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A task killed at the hard time limit goes back to the queue (the default acks it, and
        # the batch is lost until `resume`); the attempt count in the results DB bounds it.
        "task_acks_on_timeout": False,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child_kb,
        "worker_proc_alive_timeout": DEFAULT_PROC_ALIVE_TIMEOUT,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,  # Flower shows progress
        "task_send_sent_event": True,
    }

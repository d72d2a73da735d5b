"""The Celery app: `celery -A workers.app worker` works as is, and so does `meter-ocr worker`.

Importing this module reads no environment and loads no model: the configuration is a lazy
promise evaluated on first use, and the models load in each pool child after fork.
"""

from __future__ import annotations

from celery import Celery, signals

from producer.settings import get_settings
from workers.celeryconfig import celery_config

app = Celery("meter_ocr", include=["workers.tasks"])
app.add_defaults(lambda: celery_config(get_settings()))


@signals.worker_init.connect
def _note_pool_size(sender=None, **_: object) -> None:
    """In the parent, before the pool forks: children size TensorFlow's threads by it."""
    from workers.launch import note_pool_size

    note_pool_size(getattr(sender, "concurrency", None))


@signals.worker_process_init.connect
def _load_resources_in_child(**_: object) -> None:
    """Runs in each prefork child right after fork: the one place the model loads."""
    from workers.launch import pin_child_to_gpu
    from workers.resources import init_process_resources

    pin_child_to_gpu()
    init_process_resources(get_settings())


@signals.worker_process_shutdown.connect
def _close_resources_in_child(**_: object) -> None:
    from workers.resources import close_process_resources

    close_process_resources()

"""Command-line options that map onto `Settings` fields, each with its METER_OCR_* env var.

`uses_settings("database_url", ...)` adds those options to a command and hands the command one
`settings` object: the env vars (read by pydantic-settings) with explicit flags on top.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from producer.services import settings_with

SETTINGS_META_KEY = "meter_ocr.settings"

_OPTIONS = {
    "database_url": click.option(
        "--database-url", envvar="METER_OCR_DATABASE_URL", show_envvar=True, metavar="URL",
        help="Results database, a SQLAlchemy URL (postgresql://... or sqlite:///file.db). "
        "[default: sqlite:///meter-ocr.db]",
    ),
    "broker_url": click.option(
        "--broker-url", envvar="METER_OCR_BROKER_URL", show_envvar=True, metavar="URL",
        help="Celery broker, e.g. redis://host:6379/0.",
    ),
    "s3_endpoint_url": click.option(
        "--s3-endpoint-url", envvar="METER_OCR_S3_ENDPOINT_URL", show_envvar=True, metavar="URL",
        help="S3-compatible endpoint (MinIO, Ceph, R2). [default: AWS]",
    ),
    "model_dir": click.option(
        "--model-dir", envvar="METER_OCR_MODEL_DIR", show_envvar=True,
        type=click.Path(path_type=Path, file_okay=False), help="Reader model folder. [default: the shipped model]",
    ),
    "batch_size": click.option(
        "--batch-size", envvar="METER_OCR_BATCH_SIZE", show_envvar=True, type=click.IntRange(1, 1024),
        help="Photos per queued batch (one task, one model call). [default: 64]",
    ),
    "fetch_concurrency": click.option(
        "--fetch-concurrency", envvar="METER_OCR_FETCH_CONCURRENCY", show_envvar=True,
        type=click.IntRange(1, 256), help="Parallel downloads inside a batch. [default: 16]",
    ),
    "queue": click.option(
        "--queue", envvar="METER_OCR_QUEUE", show_envvar=True, help="Broker queue name. [default: meter-ocr]",
    ),
}


def uses_settings(*names: str):
    """Add the named settings options; the command receives `settings=` instead of them."""

    def decorate(command):
        @functools.wraps(command)
        def wrapper(**kwargs):
            overrides = {name: kwargs.pop(name) for name in names}
            settings = settings_with(**overrides)
            click.get_current_context().meta[SETTINGS_META_KEY] = settings
            return command(settings=settings, **kwargs)

        for name in reversed(names):
            wrapper = _OPTIONS[name](wrapper)
        return wrapper

    return decorate


def profile_option(command):
    return click.option(
        "--profile", envvar="METER_OCR_PROFILE", show_envvar=True, metavar="SPEC",
        help="Meter profile: JSON or key=value list, e.g. 'name=gas,digits=8,decimals=3'.",
    )(command)


def force_option(command):
    return click.option(
        "--force", is_flag=True, envvar="METER_OCR_FORCE", show_envvar=True,
        help="Re-read photos already read by the same model.",
    )(command)

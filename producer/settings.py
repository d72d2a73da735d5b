"""The one settings object: every knob, typed, read from METER_OCR_* env vars.

Built lazily by `get_settings()`, never at import time, so importing any module (in the Celery
parent, in a test) needs no environment. Secrets have no defaults and are never logged.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "shipped"


class Settings(BaseSettings):
    # An empty variable (e.g. compose's `${X:-}`) means "use the default", not "invalid".
    model_config = SettingsConfigDict(env_prefix="METER_OCR_", extra="ignore", env_ignore_empty=True)

    database_url: SecretStr = SecretStr("sqlite:///meter-ocr.db")
    broker_url: SecretStr | None = None
    s3_endpoint_url: str | None = None
    model_dir: Path = SHIPPED_MODEL_DIR

    batch_size: int = Field(64, ge=1, le=1024, description="photos per queued batch")
    fetch_concurrency: int = Field(16, ge=1, le=256, description="parallel fetches inside a batch")
    max_image_bytes: int = Field(40 * 1024 * 1024, ge=1024, description="larger objects are errors")
    max_image_pixels: int = Field(50_000_000, ge=10_000, description="decompression-bomb guard")
    max_attempts: int = Field(3, ge=1, le=20, description="tries per batch before its photos are errors")
    task_soft_time_limit: int = Field(240, ge=5, description="seconds; finished rows are kept")
    task_time_limit: int = Field(300, ge=10, description="hard limit, well under the visibility timeout")
    visibility_timeout: int = Field(3600, ge=60, description="seconds before Redis re-delivers an unacked task")
    worker_max_tasks_per_child: int = Field(200, ge=1, description="recycle children: TF memory creeps")
    worker_max_memory_per_child_kb: int = Field(3_000_000, ge=100_000)
    queue: str = "meter-ocr"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

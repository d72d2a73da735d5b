"""Fixtures for end-to-end tests: a tiny untrained reader, and stacks of real services."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.integration.harness import Stack


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A model folder holding the tiny untrained reader (wiring, not accuracy)."""
    from model.export import export_untrained

    root = tmp_path_factory.mktemp("tiny-model")
    export_untrained(root / "reader")
    return root


@pytest.fixture
def make_stack(redis_url, s3_endpoint, tiny_model_dir):
    """`make_stack(database_url, **extra_env)`: a Stack on its own broker queue."""

    def make(database_url: str, **extra_env: str) -> Stack:
        return Stack(database_url=database_url, broker_url=redis_url, s3_endpoint=s3_endpoint,
                     model_dir=tiny_model_dir, queue=f"test-{secrets.token_hex(4)}", extra_env=extra_env)

    return make

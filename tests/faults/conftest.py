"""Fixtures for the fault suite: stacks whose workers carry the test-only fault injector, and a
summary of the measured recovery times at the end of the run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.faults.checks import RECOVERIES
from tests.integration.conftest import make_stack, tiny_model_dir  # noqa: F401  (shared fixtures)
from tests.integration.harness import REPO_ROOT, Stack

INJECT_DIR = Path(__file__).resolve().parent / "inject"

# soft < hard < visibility (RELIABILITY.md), short enough for a test to wait out.
FAST_LIMITS = {
    "METER_OCR_VISIBILITY_TIMEOUT": "60",
    "METER_OCR_TASK_TIME_LIMIT": "45",
    "METER_OCR_TASK_SOFT_TIME_LIMIT": "40",
}
# Workers that carry the injector (tests/faults/inject/sitecustomize.py).
WITH_INJECTOR = {"METER_OCR_TEST_FAULTS": "1", "PYTHONPATH": f"{INJECT_DIR}:{REPO_ROOT}"}


@pytest.fixture
def fault_stack(make_stack, postgres_url):  # noqa: F811  (the imported fixture, passed by name)
    """`fault_stack(**env)`: a Stack on Postgres with fast limits and the injector; env wins."""

    def make(**env: str) -> Stack:
        return make_stack(postgres_url, **{**FAST_LIMITS, **WITH_INJECTOR, **env})

    return make


def jpeg_with_marker(seed: int, marker: bytes = b"") -> bytes:
    """A meter-like JPEG; bytes after its end marker are ignored by decoders, seen by the injector."""
    from tests.integration.photos import meter_jpeg

    return meter_jpeg(seed) + marker


def write_photos(folder: Path, bodies: dict[str, bytes]) -> set[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        (folder / name).write_bytes(body)
    return {str(folder / name) for name in bodies}


def job_id_of(result) -> str:
    return result.stdout.splitlines()[0].strip()


def pytest_terminal_summary(terminalreporter) -> None:
    if not RECOVERIES:
        return
    out = io.StringIO()
    for name, seconds, note in RECOVERIES:
        out.write(f"  {name:<58} {seconds:7.1f}s  {note}\n")
    terminalreporter.write_sep("-", f"fault recovery times ({len(RECOVERIES)})")
    terminalreporter.write(out.getvalue())

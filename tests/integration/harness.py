"""Running the real thing from tests: `meter-ocr` and `celery worker` as subprocesses.

No eager Celery anywhere: workers are real prefork workers in their own process groups, so a
test can SIGKILL one, read its /proc maps, or stop it warmly with SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "producer.cli"]
WORKER_READY_TIMEOUT_S = 120


@dataclass
class Stack:
    """One test deployment: where results go, which broker queue, which model."""

    database_url: str
    broker_url: str
    s3_endpoint: str
    model_dir: Path
    queue: str
    extra_env: dict = field(default_factory=dict)

    def env(self, **more: str) -> dict:
        env = dict(os.environ)
        env.update({
            "METER_OCR_DATABASE_URL": self.database_url,
            "METER_OCR_BROKER_URL": self.broker_url,
            "METER_OCR_S3_ENDPOINT_URL": self.s3_endpoint,
            "METER_OCR_MODEL_DIR": str(self.model_dir),
            "METER_OCR_QUEUE": self.queue,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(REPO_ROOT),
        })
        env.update(self.extra_env)
        env.update(more)
        return env

    def cli(self, *args: str, timeout: float = 300, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        """Run `meter-ocr ARGS` with this stack's environment; stdout/stderr captured as text."""
        result = subprocess.run([*CLI, *args], env=self.env(**env), cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"meter-ocr {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    def rows(self, job_id: str) -> list[dict]:
        out = self.cli("results", job_id, "--format", "jsonl").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


class Worker:
    """A `celery worker` (or `meter-ocr worker`) subprocess in its own session/process group."""

    def __init__(self, stack: Stack, log_path: Path, *, name: str, concurrency: int = 1,
                 via_cli: bool = False, **env: str):
        if via_cli:
            command = [*CLI, "worker", f"--concurrency={concurrency}", f"--hostname={name}@%h"]
        else:
            command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool=prefork",
                       f"--concurrency={concurrency}", f"--queues={stack.queue}", f"--hostname={name}@%h",
                       "--loglevel=INFO", "--without-mingle", "--without-gossip"]
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=stack.env(**env), cwd=REPO_ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, *, children: int = 1, timeout_s: float = WORKER_READY_TIMEOUT_S) -> None:
        """Until the parent says ready and `children` pool processes have loaded the model."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log()
            if " ready." in text and text.count("resources ready in pid") >= children:
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited {self.process.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker {self.name} not ready after {timeout_s:.0f}s:\n{self.log()[-3000:]}")

    def children(self) -> list[int]:
        return child_pids(self.pid)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (parent and pool children)."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def warm_shutdown(self, timeout_s: float = 120) -> int:
        """SIGTERM to the parent only (as Docker or systemd send it): Celery finishes the tasks
        in hand, then exits. Returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill(signal.SIGTERM)


def child_pids(parent: int) -> list[int]:
    """Direct children of `parent`, from /proc (no psutil needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def maps_mention(pid: int, needle: str) -> bool:
    """Whether /proc/PID/maps has a mapping whose path contains `needle` (e.g. libtensorflow)."""
    return needle in Path(f"/proc/{pid}/maps").read_text()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

"""Process plumbing for the test services: free ports, readiness polling, binaries, clean stops."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

STARTUP_TIMEOUT_S = 30.0


class ServiceError(RuntimeError):
    """A test service could not be started; the message says how to fix it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], *, what: str, timeout_s: float = STARTUP_TIMEOUT_S,
               alive: Callable[[], bool] = lambda: True, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            raise ServiceError(f"{what} exited during start-up{_log_tail(log)}")
        time.sleep(0.05)
    raise ServiceError(f"{what} did not come up within {timeout_s:.0f}s{_log_tail(log)}")


def _log_tail(log: Path | None) -> str:
    if log is None or not log.is_file():
        return ""
    return "; log tail:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def find_binary(name: str, *, extra_dirs: tuple[str, ...] = (), hint: str) -> str:
    found = shutil.which(name)
    for folder in extra_dirs:
        if found:
            break
        candidate = Path(folder, name)
        found = str(candidate) if candidate.is_file() else None
    if not found:
        raise ServiceError(f"{name} not found: {hint}")
    return found


def start_service(service, *, attempts: int = 3):
    """`service.start()`, on a fresh free port if the first one was taken in the meantime
    (free_port() cannot reserve it: another test session may bind it first)."""
    for attempt in range(attempts):
        try:
            return service.start()
        except ServiceError:
            if attempt == attempts - 1:
                raise
            service.port = free_port()
    return service


def die_with_parent() -> None:
    """preexec_fn: SIGKILL this child if the test process dies (Linux), so a killed pytest
    leaves no redis-server or moto server behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout_s: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)

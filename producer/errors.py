"""Turning failures into the one-line messages an operator sees (never a traceback, never a
password). The CLI's group calls `describe_failure` for anything a command raises."""

from __future__ import annotations

import re

# Exit codes: 1 for a service or input that failed at run time, 2 for a bad invocation.
EXIT_FAILED = 1
EXIT_USAGE = 2

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


class CliFailure(Exception):
    """A failure the CLI reports as `error: <message>` with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def mask_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove passwords from URLs in `text`, and any known secret value verbatim."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def describe_failure(exc: BaseException) -> CliFailure:
    """Map the project's known exceptions to a message and exit code."""
    if isinstance(exc, CliFailure):
        return exc
    message = " ".join(str(exc).split()) or type(exc).__name__
    for kind, code in _known_failures():
        if isinstance(exc, kind):
            return CliFailure(message, code)
    module = type(exc).__module__.split(".")[0]
    if module == "sqlalchemy":
        return CliFailure(f"results database failed: {type(exc).__name__}: {message[:300]}")
    return CliFailure(f"unexpected {type(exc).__name__}: {message[:300]} (METER_OCR_DEBUG=1 shows the traceback)")


def _known_failures() -> list[tuple[type, int]]:
    from pydantic import ValidationError

    from producer.queue import BrokerUnavailable
    from storage.refs import SourceError

    known: list[tuple[type, int]] = [
        (SourceError, EXIT_FAILED),
        (BrokerUnavailable, EXIT_FAILED),
        (LookupError, EXIT_FAILED),
        (FileNotFoundError, EXIT_FAILED),
        (TimeoutError, EXIT_FAILED),
        (ValidationError, EXIT_USAGE),
    ]
    try:
        from results.db import DatabaseUnavailable

        known.append((DatabaseUnavailable, EXIT_FAILED))
    except ImportError:  # results/ not installed in this checkout
        pass
    try:
        from model.profiles import ProfileError

        known.append((ProfileError, EXIT_USAGE))
    except ImportError:
        pass
    return known

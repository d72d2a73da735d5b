#!/usr/bin/env python3
"""Start the test services by hand (or in CI) exactly as the pytest fixtures do.

    .venv/bin/python infra/services/test_services.py [redis] [postgres] [s3]

Prints `export ...` lines (METER_OCR_BROKER_URL, METER_OCR_DATABASE_URL, METER_OCR_S3_ENDPOINT_URL
and fake AWS credentials), then keeps the services up until Ctrl-C / SIGTERM and removes their
temp dirs. With no arguments it starts all three.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.services import TEST_AWS_ENV, PostgresServer, RedisServer, S3Server, ServiceError, start_service  # noqa: E402

SERVICES = ("redis", "postgres", "s3")


def start(names: list[str]) -> tuple[list, dict[str, str]]:
    running, env = [], {}
    if "redis" in names:
        running.append(redis := start_service(RedisServer()))
        env["METER_OCR_BROKER_URL"] = redis.url
    if "postgres" in names:
        running.append(postgres := start_service(PostgresServer()))
        env["METER_OCR_DATABASE_URL"] = postgres.create_database("meter_ocr")
    if "s3" in names:
        running.append(s3 := start_service(S3Server()))
        env["METER_OCR_S3_ENDPOINT_URL"] = s3.endpoint
        env.update(TEST_AWS_ENV)
    return running, env


def main(argv: list[str]) -> int:
    names = argv or list(SERVICES)
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        print(f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    running: list = []
    try:
        running, env = start(names)
        for name, value in env.items():
            print(f"export {name}='{value}'", flush=True)
        print("# services up; Ctrl-C to stop", file=sys.stderr, flush=True)
        stop.wait()
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        for service in reversed(running):
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

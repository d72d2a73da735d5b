"""Shared fixtures: real Redis, Postgres and S3 (moto) started once per session, on demand.

A service starts only when a test asks for its fixture, so unit tests start nothing. A missing
binary fails the test with the install command; integration tests are never silently skipped.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Callable, Iterator

import pytest

from tests.services import TEST_AWS_ENV, PostgresServer, RedisServer, S3Server, ServiceError, start_service


def _started(make_service: Callable[[], object]):
    """Build and start a service; a missing binary or a failed start fails the test in one line."""
    try:
        return start_service(make_service())
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's redis-server (append-only). `.kill()` and `.restart()` for fault tests."""
    server = _started(RedisServer)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_factory(tmp_path) -> Iterator[Callable[..., RedisServer]]:
    """Start dedicated redis-servers (e.g. `appendonly=False`) that die with the test."""
    started: list[RedisServer] = []

    def start(*, appendonly: bool = True) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(started)}", appendonly=appendonly)
        started.append(server)  # stopped at teardown even if its start fails half-way
        return _started(lambda: server)

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One Postgres 15 cluster for the session; `.restart()`/`.stop(remove=False)` for faults."""
    server = _started(PostgresServer)
    yield server
    server.stop("immediate")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test (`postgresql+psycopg://meter:***@127.0.0.1:port/db`)."""
    name = "test_" + secrets.token_hex(6)
    url = postgres_server.create_database(name)
    yield url
    try:
        postgres_server.drop_database(name)
    except Exception:  # the test may have stopped the server; the cluster is removed at the end
        pass


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'results.db'}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = _started(S3Server)
    saved = {name: os.environ.get(name) for name in TEST_AWS_ENV}
    # Fake credentials for every client in this process and its children (celery workers).
    os.environ.update(TEST_AWS_ENV)
    yield server
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: S3Server) -> str:
    """`http://127.0.0.1:PORT` of moto's S3 server; AWS_* test credentials are set in os.environ."""
    return s3_server.endpoint


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str):
    from storage.s3 import make_s3_client

    return make_s3_client(endpoint_url=s3_endpoint, max_pool_connections=16)


@pytest.fixture
def make_bucket(s3_client) -> Callable[[], str]:
    """Create a bucket with a unique name; returns the name."""

    def create(prefix: str = "photos") -> str:
        name = f"{prefix}-{secrets.token_hex(4)}"
        s3_client.create_bucket(Bucket=name)
        return name

    return create


def tiny_png(index: int) -> bytes:
    """A small, valid, distinct PNG (grey level and size vary with `index`)."""
    from PIL import Image

    image = Image.new("L", (32 + index % 7, 24), color=(index * 37) % 256)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def upload_photos(s3_client) -> Callable[..., list[str]]:
    """`upload_photos(bucket, count, prefix="photos/", payload=fn(i) -> bytes, suffix=".png")`
    puts `count` objects named `{prefix}{i:05d}{suffix}` and returns their s3:// URIs in order."""

    def upload(bucket: str, count: int, *, prefix: str = "photos/", payload: Callable[[int], bytes] = tiny_png,
               suffix: str = ".png") -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        keys = [f"{prefix}{i:05d}{suffix}" for i in range(count)]

        def put(item: tuple[int, str]) -> None:
            s3_client.put_object(Bucket=bucket, Key=item[1], Body=payload(item[0]))

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, enumerate(keys)))
        return [f"s3://{bucket}/{key}" for key in keys]

    return upload


SERVICE_FIXTURES = frozenset({
    "redis_server", "redis_url", "redis_factory", "postgres_server", "postgres_url", "s3_server", "s3_endpoint",
    "s3_client", "make_bucket", "upload_photos",
})


def pytest_collection_modifyitems(config, items) -> None:
    """A test that starts a real service is an integration test, marked or not, so that
    `-m "not integration"` really runs without services."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)

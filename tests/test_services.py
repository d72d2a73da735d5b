"""The test-services harness itself: what fault tests rely on must really hold."""

import signal
import socket

import pytest

from tests.services import PostgresServer, RedisServer, ServiceError

pytestmark = pytest.mark.integration


def redis_command(port: int, *parts: str) -> bytes:
    payload = f"*{len(parts)}\r\n" + "".join(f"${len(p)}\r\n{p}\r\n" for p in parts)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(payload.encode())
        return sock.recv(256)


@pytest.mark.parametrize(("appendonly", "survives"), [(True, True), (False, False)])
def test_redis_kill_and_restart(redis_factory, appendonly, survives):
    server = redis_factory(appendonly=appendonly)
    assert redis_command(server.port, "SET", "k", "v") == b"+OK\r\n"
    server.kill(signal.SIGKILL)
    assert not server.ping()
    server.restart()
    assert redis_command(server.port, "GET", "k") == (b"$1\r\nv\r\n" if survives else b"$-1\r\n")


def test_postgres_databases_are_separate(postgres_server, postgres_url):
    import psycopg

    other = postgres_server.create_database()
    try:
        for url in (postgres_url, other):
            with psycopg.connect(url.replace("+psycopg", "")) as conn:
                conn.execute("CREATE TABLE t (x int)")  # would fail in a shared database
    finally:
        postgres_server.drop_database(other.rsplit("/", 1)[1])


def test_s3_reset_forgets_buckets(s3_server, s3_client, make_bucket):
    bucket = make_bucket()
    s3_server.reset()
    assert bucket not in [b["Name"] for b in s3_client.list_buckets()["Buckets"]]


def test_missing_binaries_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError, match="apt-get install redis-server"):
        RedisServer(tmp_path)
    monkeypatch.setattr("tests.services.PG_BIN_DIRS", (str(tmp_path),))
    with pytest.raises(ServiceError, match="apt-get install postgresql-15"):
        PostgresServer()


def test_a_taken_port_is_replaced_by_a_free_one(tmp_path):
    from tests.services import start_service

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = RedisServer(tmp_path, port=taken)
        try:
            start_service(server)
            assert server.port != taken and server.ping()
        finally:
            server.stop()

"""Real test services on free loopback ports in temp dirs: redis-server, Postgres 15, moto's S3.

Used by tests/conftest.py and by infra/services/test_services.py, which starts all three for
manual runs and CI. A missing binary raises ServiceError naming the
package to install; the fixtures turn that into a test failure, never a silent skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.service_process import (
    STARTUP_TIMEOUT_S,
    ServiceError,
    die_with_parent,
    find_binary,
    free_port,
    start_service,
    stop_process,
    wait_until,
)

__all__ = [
    "PG_BIN_DIRS", "TEST_AWS_ENV", "PostgresServer", "RedisServer", "S3Server", "ServiceError", "free_port",
    "start_service",
]

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


class RedisServer:
    """A real redis-server; append-only by default so kill/restart loses nothing acknowledged."""

    def __init__(self, workdir: Path | None = None, *, appendonly: bool = True, port: int | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="meter-ocr-redis-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.binary = find_binary("redis-server", hint="install it with `apt-get install redis-server`")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.workdir / "redis.log"
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
            "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
            "--save", "", "--protected-mode", "no", "--daemonize", "no", "--logfile", str(log),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent)
        wait_until(self.ping, what=f"redis-server on port {self.port}", alive=self.alive, log=log)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the server abruptly (SIGKILL by default), as a crash would."""
        stop_process(self.process, sig)

    def restart(self) -> RedisServer:
        """Start again on the same port and data dir: append-only data comes back."""
        if self.alive():
            self.kill(signal.SIGTERM)
        return self.start()

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _as_postgres_user(command: list[str]) -> list[str]:
    """Postgres refuses to run as root: run its tools as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return command
    runuser = find_binary("runuser", hint="install util-linux (or run the tests as a non-root user)")
    return [runuser, "-u", "postgres", "--", *command]


class PostgresServer:
    """A throwaway Postgres cluster: initdb + pg_ctl, fsync off, socket in its own temp dir.

    TCP on 127.0.0.1 needs the password (so masking can be tested); the unix socket trusts.
    """

    user = "meter"

    def __init__(self, *, port: int | None = None):
        bin_dir = os.environ.get("METER_OCR_TEST_PG_BIN")
        hint = "install Postgres 15 with `apt-get install postgresql-15` (or set METER_OCR_TEST_PG_BIN)"
        dirs = (bin_dir,) if bin_dir else PG_BIN_DIRS
        self.initdb = find_binary("initdb", extra_dirs=dirs, hint=hint) if not bin_dir else str(Path(bin_dir, "initdb"))
        self.pg_ctl = str(Path(self.initdb).parent / "pg_ctl")
        self.port = port or free_port()
        self.password = "pw-" + secrets.token_hex(8)
        self.root = Path(tempfile.mkdtemp(prefix="meter-ocr-pg-"))
        self.datadir = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres", group="postgres")

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql+psycopg://{self.user}:{secret}@127.0.0.1:{self.port}/{database}"

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(_as_postgres_user(command), capture_output=True, text=True, cwd=self.root)
        if result.returncode != 0:
            raise ServiceError(f"{Path(command[0]).name} failed: {(result.stderr or result.stdout).strip()[-800:]}")

    def start(self) -> PostgresServer:
        if not (self.datadir / "PG_VERSION").exists():
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password + "\n")
            if os.geteuid() == 0:
                shutil.chown(pwfile, user="postgres", group="postgres")
            self._run([self.initdb, "-D", str(self.datadir), "-U", self.user, "--pwfile", str(pwfile),
                       "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
                       "--locale=C.UTF-8"])
        # fsync off: commits still reach the OS before returning, so killing the server (what
        # fault tests do) loses nothing committed; only a machine crash would. synchronous_commit
        # stays on for that reason: with it off an immediate stop drops the last commits.
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run([self.pg_ctl, "-D", str(self.datadir), "-o", options, "-l", str(self.root / "postgres.log"),
                   "-w", "-t", str(int(STARTUP_TIMEOUT_S)), "start"])
        return self

    def stop(self, mode: str = "fast", *, remove: bool = True) -> None:
        """Stop the server (`immediate` is a crash, as far as clients can tell)."""
        if (self.datadir / "postmaster.pid").exists():
            self._run([self.pg_ctl, "-D", str(self.datadir), "-m", mode, "-w", "stop"])
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> PostgresServer:
        self.stop("immediate", remove=False)
        return self.start()

    def admin(self, sql: str) -> None:
        import psycopg

        conninfo = f"host={self.root} port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL (with password)."""
        name = name or "test_" + secrets.token_hex(6)
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class S3Server:
    """moto's S3 server as a subprocess: a real HTTP endpoint, its own process and GIL."""

    def __init__(self, *, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="meter-ocr-moto-", suffix=".log")[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        import importlib.util

        if importlib.util.find_spec("moto") is None:
            raise ServiceError("moto not installed: pip install 'moto[server]' (the `test` extra)")
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        wait_until(self.ready, what=f"moto S3 server on port {self.port}", log=self.log,
                   alive=lambda: self.process.poll() is None)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=0.5) as response:
                return response.status == 200
        except OSError:
            return False

    def reset(self) -> None:
        """Forget every bucket and object."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def stop(self) -> None:
        stop_process(self.process)
        self.log.unlink(missing_ok=True)


TEST_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

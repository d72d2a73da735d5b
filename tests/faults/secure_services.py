"""Services with credentials and TLS for the security tests: a redis-server with `requirepass`
(optionally TLS-only) and certificates made by `openssl` (a throwaway CA and a server cert for
127.0.0.1), plus TLS switched on in the session's Postgres."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.service_process import die_with_parent, find_binary, free_port, stop_process, wait_until


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(folder: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1/localhost, signed by it."""
    openssl = find_binary("openssl", hint="apt-get install openssl")
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=meter-ocr test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")


class PasswordRedis:
    """redis-server with a password; TLS-only (`rediss://`) when given certificates."""

    def __init__(self, workdir: Path, *, tls: TlsFiles | None = None):
        self.workdir = workdir
        self.tls = tls
        self.password = "redis-" + secrets.token_hex(8)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.tls is None:
            return f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        return f"rediss://:{self.password}@127.0.0.1:{self.port}/0?ssl_cert_reqs=required&ssl_ca_certs={self.tls.ca}"

    def start(self) -> PasswordRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [find_binary("redis-server", hint="apt-get install redis-server"), "--bind", "127.0.0.1",
                   "--dir", str(self.workdir), "--save", "", "--appendonly", "no", "--requirepass", self.password,
                   "--logfile", str(self.workdir / "redis.log")]
        if self.tls is None:
            command += ["--port", str(self.port)]
        else:
            command += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.cert),
                        "--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca),
                        "--tls-auth-clients", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent)
        wait_until(self.ping, what=f"password redis-server on {self.port}", alive=lambda: self.process.poll() is None,
                   log=self.workdir / "redis.log")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        stop_process(self.process)


def enable_postgres_tls(server, tls: TlsFiles) -> None:
    """Switch TLS on in a running test Postgres (reload, no restart); clients still choose."""
    root = Path(server.root)
    for name, source in (("server.crt", tls.cert), ("server.key", tls.key)):
        target = root / name
        shutil.copy(source, target)
        if _is_root():  # the server runs as `postgres` and refuses a key others can read
            shutil.chown(target, user="postgres", group="postgres")
        target.chmod(0o600)
    server.admin(f"ALTER SYSTEM SET ssl_cert_file = '{root / 'server.crt'}'")
    server.admin(f"ALTER SYSTEM SET ssl_key_file = '{root / 'server.key'}'")
    server.admin("ALTER SYSTEM SET ssl = on")
    server.admin("SELECT pg_reload_conf()")


def disable_postgres_tls(server) -> None:
    for setting in ("ssl", "ssl_cert_file", "ssl_key_file"):
        server.admin(f"ALTER SYSTEM RESET {setting}")
    server.admin("SELECT pg_reload_conf()")


def _is_root() -> bool:
    import os

    return os.geteuid() == 0

"""Issue 5 item 4: JSON only on the wire, no credentials in any output, no SQL through filters,
passwords and TLS on Redis and Postgres, and local jobs confined to their folder."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from producer.queue import TASK_NAME
from tests.faults.checks import assert_exactly_once, job_state, rows_of, session_for, wait_done, wait_for
from tests.faults.conftest import job_id_of, jpeg_with_marker, write_photos
from tests.faults.secure_services import PasswordRedis, disable_postgres_tls, enable_postgres_tls, make_tls_files
from tests.integration.harness import REPO_ROOT, Worker
from tests.service_process import free_port

pytestmark = [pytest.mark.integration, pytest.mark.model, pytest.mark.slow]


class _RunsAShellCommand:
    """Unpickling this runs `touch PATH`: what an attacker with access to Redis would send."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_a_pickled_message_is_refused_and_nothing_runs(fault_stack, tmp_path):
    import redis
    from celery import Celery

    stack = fault_stack()
    expected = write_photos(tmp_path / "photos", {f"{i}.jpg": jpeg_with_marker(i) for i in range(3)})
    job_id = job_id_of(stack.cli("enqueue", str(tmp_path / "photos")))
    redis.Redis.from_url(stack.broker_url).delete(stack.queue)  # forget the JSON task: only the pickle remains
    marker = tmp_path / "pwned"
    attacker = Celery("attacker", set_as_current=False)
    attacker.conf.update(broker_url=stack.broker_url, task_serializer="pickle", accept_content=["pickle", "json"])
    attacker.send_task(TASK_NAME, args=(job_id, _RunsAShellCommand(marker)), queue=stack.queue, serializer="pickle")
    worker = Worker(stack, tmp_path / "worker.log", name="json-only", concurrency=1)
    try:
        worker.wait_ready(children=1)
        wait_for(lambda: "Refusing to deserialize untrusted content of type pickle" in worker.log(),
                 "the worker to refuse the pickled message", timeout=60)
        assert not marker.exists(), "the pickled payload was executed"
        assert job_state(stack, job_id) == "queued" and "succeeded in" not in worker.log()
        stack.cli("resume", job_id)  # JSON tasks still work
        wait_done(stack, job_id)
        assert_exactly_once(stack, job_id, expected)
        assert not marker.exists()
    finally:
        worker.stop()


def test_passwords_work_and_never_appear_in_cli_output_or_worker_logs(make_stack, postgres_server, postgres_url,
                                                                      tmp_path):
    broker = PasswordRedis(tmp_path / "redis").start()
    try:
        stack = make_stack(postgres_url)
        stack.broker_url = broker.url
        secrets_seen = [postgres_server.password, broker.password]
        folder = tmp_path / "photos"
        write_photos(folder, {"a.jpg": jpeg_with_marker(1), "b'; DROP TABLE photos;--.jpg": jpeg_with_marker(2)})
        outputs = _cli_against_broken_services(stack, folder, postgres_server, broker, secrets_seen)
        worker = Worker(stack, tmp_path / "worker.log", name="secrets", concurrency=1)
        try:
            worker.wait_ready(children=1)
            done = stack.cli("enqueue", str(folder), "--wait", "--timeout", "120")
            job_id = job_id_of(done)
            outputs += [done, stack.cli("status", job_id), stack.cli("results", job_id, "--format", "jsonl"),
                        stack.cli("resume", job_id), stack.cli("results", job_id, "--format", "csv")]
            assert_exactly_once(stack, job_id, {str(p) for p in folder.iterdir()})
            worker_log = worker.log()
        finally:
            worker.stop()
    finally:
        broker.stop()
    assert "redis://:**@" in worker_log  # the worker names its broker, masked
    for text in [worker_log] + [o.stdout + o.stderr for o in outputs]:
        for secret in secrets_seen:
            assert secret not in text, f"a password leaked into: {text[:300]!r}"


def _cli_against_broken_services(stack, folder, postgres_server, broker, secrets_seen: list[str]) -> list:
    """The CLI's one-line errors with password URLs for a server that is down, and one that is up
    but gets the wrong password."""
    down_pw, wrong_pw = "down-" + secrets.token_hex(6), "wrong-" + secrets.token_hex(6)
    secrets_seen += [down_pw, wrong_pw]
    closed = free_port()
    db_down = f"postgresql://meter:{down_pw}@127.0.0.1:{closed}/x"
    db_wrong = postgres_server.url("postgres", password=wrong_pw)
    broker_down = f"redis://:{down_pw}@127.0.0.1:{closed}/0"
    broker_wrong = f"redis://:{wrong_pw}@127.0.0.1:{broker.port}/0"
    runs = [
        stack.cli("status", check=False, METER_OCR_DATABASE_URL=db_down),
        stack.cli("status", check=False, METER_OCR_DATABASE_URL=db_wrong),
        stack.cli("results", check=False, METER_OCR_DATABASE_URL=db_wrong),
        stack.cli("enqueue", str(folder), check=False, METER_OCR_BROKER_URL=broker_down),
        stack.cli("enqueue", str(folder), check=False, METER_OCR_BROKER_URL=broker_wrong),
        stack.cli("resume", "nojob", check=False, METER_OCR_BROKER_URL=broker_wrong),
        stack.cli("enqueue", str(folder), check=False, METER_OCR_DATABASE_URL=db_wrong),
    ]
    for run in runs:
        assert run.returncode == 1 and run.stderr.startswith("error: "), run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr  # one line, no traceback
    assert "password authentication failed" in runs[1].stderr
    return runs


def test_tls_to_redis_and_postgres_with_a_self_signed_ca(make_stack, postgres_server, tmp_path):
    tls = make_tls_files(tmp_path / "tls")
    broker = PasswordRedis(tmp_path / "redis", tls=tls).start()
    enable_postgres_tls(postgres_server, tls)
    database = "tls_" + secrets.token_hex(4)
    try:
        plain_url = postgres_server.create_database(database)
        url = f"{plain_url}?sslmode=verify-full&sslrootcert={tls.ca}"
        assert _connection_uses_tls(url)
        stack = make_stack(url)
        stack.broker_url = broker.url
        folder = tmp_path / "photos"
        expected = write_photos(folder, {f"{i}.jpg": jpeg_with_marker(i) for i in range(4)})
        worker = Worker(stack, tmp_path / "worker.log", name="tls", concurrency=1)
        try:
            worker.wait_ready(children=1)
            job_id = job_id_of(stack.cli("enqueue", str(folder), "--wait", "--timeout", "120"))
            # Checked through the CLI: TLS from this process (TensorFlow loaded) would abort it.
            rows = stack.rows(job_id)
            assert sorted(row["source"] for row in rows) == sorted(expected)
            assert "pending" not in {row["status"] for row in rows}
            assert "photos: 4/4 done" in stack.cli("status", job_id).stdout
        finally:
            worker.stop()
        untrusted = stack.cli("status", check=False, METER_OCR_BROKER_URL=broker.url.split("&ssl_ca_certs")[0],
                              METER_OCR_DATABASE_URL=f"{plain_url}?sslmode=verify-full&sslrootcert=/nonexistent")
        assert untrusted.returncode == 1 and broker.password not in untrusted.stderr
        unverified = stack.cli("resume", job_id, check=False, METER_OCR_BROKER_URL=broker.url.split("&ssl_ca_certs")[0])
        assert unverified.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in unverified.stderr
        assert broker.password not in unverified.stderr
    finally:
        broker.stop()
        disable_postgres_tls(postgres_server)
        postgres_server.drop_database(database)


def _connection_uses_tls(url: str) -> bool:
    """Asked from a fresh interpreter: in this one TensorFlow is loaded, and psycopg's first TLS
    connection after that aborts the process (why workers connect before loading the model)."""
    script = ("import sys\nfrom sqlalchemy import text\nfrom results.db import make_engine\n"
              "with make_engine(sys.argv[1]).connect() as conn:\n"
              "    print(conn.execute(text('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).scalar())")
    done = subprocess.run([sys.executable, "-c", script, url], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=60)
    return done.stdout.strip() == "True"


def test_results_status_filter_cannot_inject_sql(fault_stack, tmp_path):
    from results.repository import iter_results

    stack = fault_stack()
    write_photos(tmp_path / "photos", {"a.jpg": b"not an image"})
    job_id = job_id_of(stack.cli("enqueue", str(tmp_path / "photos")))
    injected = stack.cli("results", job_id, "--status", "error' OR '1'='1", check=False)
    assert injected.returncode == 2 and injected.stdout == "" and "Invalid value for '--status'" in injected.stderr
    with session_for(stack) as session, pytest.raises(ValueError):
        list(iter_results(session=session, job_id=job_id, status="pending' OR '1'='1"))
    with session_for(stack) as session:
        assert list(iter_results(session=session, job_id=f"{job_id}' OR '1'='1")) == []
    assert len(rows_of(stack, job_id)) == 1


def test_a_local_job_cannot_read_outside_its_folder(fault_stack, tmp_path):
    stack = fault_stack()
    outside = tmp_path / "outside"
    secret = write_photos(outside, {"secret.jpg": jpeg_with_marker(7)}).pop()
    folder = tmp_path / "photos"
    expected = write_photos(folder, {"a.jpg": jpeg_with_marker(1), "swapped.jpg": jpeg_with_marker(2)})
    (folder / "link-out.jpg").symlink_to(secret)  # listed? no: symlinks leaving the folder are skipped
    job_id = job_id_of(stack.cli("enqueue", str(folder)))
    (folder / "swapped.jpg").unlink()  # after listing, before reading: now a link to the outside
    (folder / "swapped.jpg").symlink_to(secret)
    worker = Worker(stack, tmp_path / "worker.log", name="confined", concurrency=1)
    try:
        worker.wait_ready(children=1)
        wait_done(stack, job_id)
        rows = assert_exactly_once(stack, job_id, expected)
    finally:
        worker.stop()
    swapped = rows[str(folder / "swapped.jpg")]
    assert (swapped.status, swapped.reason) == ("error", "outside the job's folder")
    assert rows[str(folder / "a.jpg")].status != "error"
    (tmp_path / "list.txt").write_text("photos/a.jpg\n../etc/passwd.jpg\n")
    refused = stack.cli("enqueue", str(tmp_path / "list.txt"), check=False)
    assert refused.returncode == 1 and "escapes the manifest's folder" in refused.stderr

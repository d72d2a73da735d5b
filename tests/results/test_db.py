"""Engine, URL masking, connection failures and migrations on SQLite and Postgres."""

import multiprocessing

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from results.db import DatabaseUnavailable, check_connection, describe_url, make_engine, migrate
from results.schema import metadata
from tests.services import PostgresServer, free_port


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://ops:s3cr3t@db.example:5432/meter", "postgresql://ops:***@db.example:5432/meter"),
        ("postgresql+psycopg://ops:p%40ss%3Aw0rd@h/db", "postgresql+psycopg://ops:***@h/db"),
        ("postgresql://ops@h/db", "postgresql://ops@h/db"),
        ("postgresql://ops@h/db?password=s3cr3t&sslmode=require", "postgresql://ops@h/db?password=***&sslmode=require"),
        ("sqlite:///results/meter-ocr.db", "sqlite:///results/meter-ocr.db"),
        ("not a url", "<unparseable database URL>"),
    ],
)
def test_describe_url_masks_the_password(url, masked):
    assert describe_url(url) == masked


def test_unreachable_postgres_is_one_masked_line():
    port = free_port()
    engine = make_engine(f"postgresql://ops:hunter2@127.0.0.1:{port}/meter")
    with pytest.raises(DatabaseUnavailable) as raised:
        with engine.connect() as conn:  # any use, not only check_connection, is translated
            conn.execute(text("SELECT 1"))
    assert str(raised.value) == f"cannot reach postgresql+psycopg://ops:***@127.0.0.1:{port}/meter: connection refused"
    with pytest.raises(DatabaseUnavailable, match="connection refused"):
        migrate(engine)


def test_sqlite_engine_creates_its_folder_and_uses_wal(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/a/b/results.db")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert (tmp_path / "a" / "b" / "results.db").is_file()


def test_unopenable_sqlite_file_is_database_unavailable(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatabaseUnavailable, match="cannot open sqlite:///.*/file/results.db: cannot create"):
        check_connection(make_engine(f"sqlite:///{tmp_path}/file/results.db"))  # a file where a folder should be
    (tmp_path / "locked").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path}/locked")  # a folder where the file should be
    with pytest.raises(DatabaseUnavailable, match="unable to open database file"):
        check_connection(engine)


def test_migrated_schema_matches_the_metadata(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    assert {"jobs", "batches", "photos", "alembic_version"} <= set(inspect(engine).get_table_names())
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == ["0001"]


def _migrate_in_child(url: str, barrier) -> str:
    barrier.wait()
    engine = make_engine(url)
    migrate(engine)
    with engine.connect() as conn:
        return ",".join(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def test_concurrent_migrate_from_several_processes(db_url):
    context = multiprocessing.get_context("fork")  # children build their own engines
    with context.Manager() as manager:
        barrier = manager.Barrier(4)
        with context.Pool(4) as pool:
            versions = pool.starmap(_migrate_in_child, [(db_url, barrier)] * 4)
    assert versions == ["0001"] * 4


@pytest.mark.integration
def test_wrong_password_is_reported_masked(postgres_server):
    url = postgres_server.url("postgres", password="wrong-secret")
    with pytest.raises(DatabaseUnavailable) as raised:
        check_connection(make_engine(url))
    message = str(raised.value)
    assert "wrong-secret" not in message and postgres_server.password not in message
    assert message == f"cannot reach {describe_url(url)}: password authentication failed"
    assert ":***@" in message


@pytest.mark.integration
def test_postgres_outage_then_recovery():
    from results import repository as repo
    from results.db import make_session_factory
    from tests.results.helpers import new_job, outcomes_for, refs

    server = PostgresServer().start()
    try:
        engine = make_engine(server.url())
        migrate(engine)
        sessions = make_session_factory(engine)
        photos = refs(4)
        job_id, _ = new_job(sessions, photos)
        with sessions() as session:  # the server dies in the middle of a batch's transaction
            session.begin()
            repo.save_batch(session=session, job_id=job_id, batch_no=0, outcomes=outcomes_for(photos[:2]))
            server.stop("immediate", remove=False)
            with pytest.raises(DatabaseUnavailable, match="cannot reach .*:\\*\\*\\*@.*: connection lost"):
                repo.save_batch(session=session, job_id=job_id, batch_no=0, outcomes=outcomes_for(photos[2:]))
        with pytest.raises(DatabaseUnavailable, match="connection refused"):
            check_connection(engine)
        server.start()
        check_connection(engine)  # pre-ping drops the dead pooled connections and reconnects
        with sessions() as session, session.begin():  # nothing of the interrupted batch was kept
            summary = repo.get_job(session=session, job_id=job_id)
            assert summary.counts["pending"] == 4 and summary.counts["accepted"] == 0
        engine.dispose()
    finally:
        server.stop("immediate")

"""`db_url`: each repository test runs on SQLite (no services) and on real Postgres (integration)."""

import pytest

from results.db import make_engine, make_session_factory, migrate


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def db_url(request) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    """Session factory over a migrated database."""
    return make_session_factory(engine)

"""Build the clients a CLI command needs from the settings, once per command invocation.

Each builder names the service in its error, so `meter-ocr` can report which one failed.
"""

from __future__ import annotations

from pathlib import Path

from producer.errors import CliFailure
from producer.settings import Settings


def settings_with(**overrides) -> Settings:
    """Settings from METER_OCR_* env vars, with the command line's explicit values on top."""
    from producer.settings import get_settings

    given = {key: value for key, value in overrides.items() if value is not None}
    if not given:
        return get_settings()
    return Settings(**given)


def open_results_db(settings: Settings, *, migrate: bool = True, must_exist: bool = False):
    """(engine, session_factory) for the results DB, schema migrated; DatabaseUnavailable if not.

    `must_exist`: commands that only read (status, results) refuse to create a new SQLite file.
    """
    from results.db import make_engine, make_session_factory
    from results.db import migrate as migrate_schema

    url = settings.database_url.get_secret_value()
    engine = make_engine(url)
    database = engine.url.database
    if must_exist and engine.url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:"):
        if not Path(database).expanduser().exists():
            raise CliFailure(f"no results database at {database} (run `meter-ocr run` or `enqueue` first)")
    if migrate:
        migrate_schema(engine)
    return engine, make_session_factory(engine)


def open_s3(settings: Settings):
    from storage.s3 import make_s3_client

    return make_s3_client(endpoint_url=settings.s3_endpoint_url, max_pool_connections=settings.fetch_concurrency)


def open_broker(settings: Settings):
    """A checked Celery client app; BrokerUnavailable names the broker when it is down."""
    from producer.queue import check_broker, make_client_app

    app = make_client_app(settings)
    check_broker(app)
    return app


def parse_profile_option(spec: str | None) -> str | None:
    """Validate `--profile` now (bad specs are usage errors) and store its canonical form."""
    if not spec:
        return None
    from model.profiles import parse_profile

    return parse_profile(spec).to_spec()


def secrets_of(settings: Settings | None) -> tuple[str, ...]:
    if settings is None:
        return ()
    from urllib.parse import urlsplit

    urls = [settings.database_url, settings.broker_url]
    passwords = (urlsplit(url.get_secret_value()).password for url in urls if url is not None)
    return tuple(password for password in passwords if password)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CliFailure(message, exit_code=2)

"""Alembic environment for the results database.

Normally driven by `results.db.migrate(engine)`, which passes an open connection in
`config.attributes["connection"]`. Standalone: `alembic -c infra/migrations/alembic.ini upgrade head`
with METER_OCR_DATABASE_URL set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import context

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo, for `results`

from results.db import make_engine  # noqa: E402
from results.schema import metadata  # noqa: E402


def run_with(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = os.environ.get("METER_OCR_DATABASE_URL", "sqlite:///meter-ocr.db")
    engine = make_engine(url)
    with engine.connect() as conn:
        run_with(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
main()

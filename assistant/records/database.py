"""Where records are kept: a local SQLite file, or PostgreSQL shared by replicas (DATABASE_URL).

One interface for both, so the stores above write their SQL once: `?` placeholders and SQL both
engines read alike; only each table's CREATE differs, in the numbered migrations a store gives.

    database = Database("postgresql://assistant@db/assistant" or Path("index/feedback.sqlite"),
                        component="feedback", migrations=[Migration(1, sqlite=..., postgres=...)])
    with database.transaction() as run:
        run("INSERT INTO votes (at, vote) VALUES (?, ?) RETURNING id", (at, "up"))  ->  [(1,)]

Migrations are applied on first use, each once, recorded in `schema_migrations`; two replicas
starting together take turns (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Any constant number: the replicas' migration steps wait on it, nothing else in the database does.
MIGRATION_LOCK = 1_596_514_001
# A database that does not answer in this long is reported, rather than holding a request.
CONNECT_TIMEOUT_SECONDS = 5

Run = Callable[..., list[tuple]]  # run(sql, params=()) -> the rows it returned ([] if none)


@dataclass(frozen=True)
class Migration:
    number: int  # applied in order, from 1; never renumber one that has shipped
    sqlite: str
    postgres: str


class Database:
    def __init__(self, location: Path | str, *, component: str, migrations: Sequence[Migration]) -> None:
        """`location`: a postgresql:// URL, or the path of a SQLite file (made on first write).
        `component` names this store's migrations, so stores may share one database."""
        self.location = location
        self.is_postgres = isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))
        self.component = component
        self.migrations = sorted(migrations, key=lambda m: m.number)
        self._migrated = False
        self._lock = threading.Lock()

    def is_empty(self) -> bool:
        """True when nothing was ever written here: a SQLite file that does not exist yet."""
        return not self.is_postgres and not Path(self.location).exists()

    def migrate(self) -> None:
        """Apply what migrations are missing now (a server's start-up), rather than on first use."""
        with self.transaction():
            pass

    @contextmanager
    def transaction(self) -> Iterator[Run]:
        """One transaction on a connection of its own (the chat's worker threads and the API may
        write at once): committed when the block ends, rolled back if it raises."""
        with self._connection() as connection:
            self._migrate(connection)
            yield self._runner(connection)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self.is_postgres:
            import psycopg  # only when DATABASE_URL is set

            with psycopg.connect(self.location, connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection:
                yield connection  # commits on leaving, rolls back on an exception
            return
        path = Path(self.location)
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path, timeout=10)) as connection:
            # Deleted rows are overwritten, not left readable in the file's free pages.
            connection.execute("PRAGMA secure_delete = ON")
            with connection:
                yield connection

    def _runner(self, connection: Any) -> Run:
        def run(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
            if self.is_postgres:
                sql = sql.replace("?", "%s")  # no literal ? in our SQL; psycopg's placeholder
            cursor = connection.execute(sql, tuple(params)) if params else connection.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

        return run

    def _migrate(self, connection: Any) -> None:
        with self._lock:
            if self._migrated:
                return
            run = self._runner(connection)
            if self.is_postgres:
                # Held to the end of this transaction: a second replica waits here, then finds
                # the migrations recorded and applies none.
                run("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            else:
                connection.execute("BEGIN IMMEDIATE")  # the same, for processes sharing one file
            run("CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, number INTEGER NOT NULL,"
                " applied_at TEXT NOT NULL, PRIMARY KEY (component, number))")
            done = {number for (number,) in run("SELECT number FROM schema_migrations WHERE component = ?",
                                                (self.component,))}
            for migration in self.migrations:
                if migration.number in done:
                    continue
                for statement in _statements(migration.postgres if self.is_postgres else migration.sqlite):
                    run(statement)
                run("INSERT INTO schema_migrations (component, number, applied_at) VALUES (?, ?, ?)",
                    (self.component, migration.number, datetime.now(timezone.utc).isoformat(timespec="seconds")))
            if not self.is_postgres:
                connection.commit()
            self._migrated = True


def _statements(script: str) -> list[str]:
    # One statement per call: sqlite3's executescript would commit the open transaction first
    # (losing BEGIN IMMEDIATE's lock), and psycopg sends parameters with one statement only.
    # Split on ";": migrations hold none inside literals.
    return [statement.strip() for statement in script.split(";") if statement.strip()]

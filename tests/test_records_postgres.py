"""Feedback and the gaps log in a real PostgreSQL (DATABASE_URL), through the same stores as the
SQLite default: the same answers from both, migrations applied once even when replicas start
together, and the retention kept."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.records import feedback, gaps
from assistant.records.database import Database
from assistant.records.feedback import FeedbackStore
from assistant.records.gaps import GapsLog

DAY0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """Each behaviour holds for both backends."""
    return tmp_path / "records.sqlite" if request.param == "sqlite" else request.getfixturevalue("database_url")


def test_both_backends_count_votes_per_document_alike(location):
    store = FeedbackStore(location)
    store.record("up", ["liver.txt", "bones.md"])
    store.record("down", ["liver.txt"])
    store.record("down", [])  # an answer without passages
    store.record("up", ["Zebra.md", "bones.md", "bones.md"])  # "Z" sorts before "b" byte by byte

    assert [(v.doc_id, v.up, v.down) for v in store.summary()] == [
        ("bones.md", 2, 0), ("liver.txt", 1, 1), ("", 0, 1), ("Zebra.md", 1, 0)]


def test_both_backends_forget_questions_past_the_retention(location):
    class Clock:
        now = DAY0

    log = GapsLog(location, retention_days=30, clock=lambda: Clock.now)
    log.record("old question about wigs")
    Clock.now = DAY0 + timedelta(days=20)
    for question in ("newer question about parking", "and another the same second"):
        log.record(question)

    Clock.now = DAY0 + timedelta(days=31)

    assert [g.question for g in log.entries()] == ["newer question about parking", "and another the same second"]


def test_migrations_are_recorded_once_and_not_applied_again(database_url):
    FeedbackStore(database_url).record("up", ["liver.txt"])
    GapsLog(database_url, retention_days=30).record("a question")
    FeedbackStore(database_url).record("down", ["liver.txt"])  # a restart: migrations already there

    with psycopg.connect(database_url) as db:
        applied = db.execute("SELECT component, number FROM schema_migrations ORDER BY 1, 2").fetchall()
        votes = db.execute("SELECT vote FROM votes ORDER BY id").fetchall()
    assert applied == [("feedback", 1), ("gaps", 1)]
    assert votes == [("up",), ("down",)]


def test_replicas_starting_at_once_on_an_empty_database_take_turns(database_url):
    # Without the advisory lock, concurrent CREATE TABLE IF NOT EXISTS on PostgreSQL can fail
    # with a unique violation in its catalogue, and migrations could be recorded twice.
    replicas = 6
    start = threading.Barrier(replicas)
    failures: list[BaseException] = []

    def replica(n: int) -> None:
        store = FeedbackStore(database_url)
        start.wait()
        try:
            store.record("up", [f"doc{n}.md"])
        except BaseException as error:  # noqa: BLE001 (collected and asserted below)
            failures.append(error)

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with psycopg.connect(database_url) as db:
        assert db.execute("SELECT count(*) FROM schema_migrations").fetchone() == (1,)
    assert sum(v.up for v in FeedbackStore(database_url).summary()) == replicas


def test_the_cli_reads_votes_and_gaps_from_database_url(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    FeedbackStore(database_url).record("up", ["liver.txt"])
    GapsLog(database_url, retention_days=30).record("Can I fly with bone metastases?")

    votes = CliRunner().invoke(main, ["feedback"])
    unanswered = CliRunner().invoke(main, ["gaps"])

    assert votes.exit_code == 0 and "    1     0  liver.txt" in votes.output
    assert unanswered.exit_code == 0 and "Can I fly with bone metastases?" in unanswered.output


def test_each_store_keeps_its_own_numbered_migrations():
    for migrations in (feedback.MIGRATIONS, gaps.MIGRATIONS):
        assert [m.number for m in migrations] == list(range(1, len(migrations) + 1))
    assert Database("postgresql://db/x", component="feedback", migrations=[]).is_postgres

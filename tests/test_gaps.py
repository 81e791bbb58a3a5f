"""GAPS_LOG: questions the documents did not answer, kept for the retention only, never urgent
ones, listed by `clinic-assistant gaps` in groups of like meaning (the real model)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from assistant.answer import Assistant
from assistant.cli import main
from assistant.config import Settings
from assistant.records.gaps import Gap, GapsLog, group_questions

DAY0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
# Two missing topics, each in wordings that share few words ("plane", "flying", "flight"), so
# grouping them is the model's work.
FLYING = ["Can I travel by plane with bone metastases?", "Is flying safe with bone metastases?",
          "Can I take a flight if I have bone metastases?"]
PARKING = ["Where can I park my car at the clinic?", "Where do I park when I visit the clinic?"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_entries_older_than_the_retention_are_deleted_on_write_and_on_listing(tmp_path):
    clock = Clock(DAY0)
    log = GapsLog(tmp_path / "gaps.sqlite", retention_days=30, clock=clock)
    log.record("old question about wigs")
    clock.now = DAY0 + timedelta(days=20)
    log.record("newer question about parking")

    clock.now = DAY0 + timedelta(days=31)
    assert [g.question for g in log.entries()] == ["newer question about parking"]
    clock.now = DAY0 + timedelta(days=52)
    log.record("latest question about diet")

    assert [g.question for g in log.entries()] == ["latest question about diet"]
    raw = (tmp_path / "gaps.sqlite").read_bytes()
    assert b"wigs" not in raw and b"parking" not in raw  # overwritten, not just unlisted


def test_questions_are_grouped_by_meaning_largest_group_first(embedder):
    questions = [PARKING[0], FLYING[0], PARKING[1], FLYING[1], FLYING[2]]
    gaps = [Gap(DAY0 + timedelta(days=n), q) for n, q in enumerate(questions)]

    groups = group_questions(gaps, embedder)

    assert [[g.question for g in group.gaps] for group in groups] == [FLYING, PARKING]
    assert (groups[0].first, groups[0].last) == (DAY0 + timedelta(days=1), DAY0 + timedelta(days=4))


def test_only_searched_and_unanswered_questions_are_kept(seed_assistant, tmp_path):
    log = GapsLog(tmp_path / "gaps.sqlite", retention_days=30)
    assistant = Assistant(seed_assistant.settings, seed_assistant.retriever, seed_assistant.topic_check,
                          seed_assistant.urgency_model, gaps=log)

    unanswered = assistant.ask("What is the best recipe for pancakes?")
    answered = assistant.ask("Where does breast cancer usually spread?")
    urgent = assistant.ask("I don't want to live anymore, what is the recipe for pancakes")
    too_long = assistant.ask("recipe for pancakes " * 100)

    assert unanswered.abstained and not answered.abstained and urgent.urgent and too_long.abstained
    assert [g.question for g in log.entries()] == ["What is the best recipe for pancakes?"]


def test_off_by_default_and_on_with_gaps_log(monkeypatch):
    monkeypatch.delenv("GAPS_LOG", raising=False)
    assert Settings.from_env().gaps_log is False
    monkeypatch.setenv("GAPS_LOG", "1")
    assert Settings.from_env().gaps_log is True


def test_cli_gaps_lists_groups_with_counts_and_dates(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPS_DB", str(tmp_path / "gaps.sqlite"))
    runner = CliRunner()
    assert "No unanswered questions" in runner.invoke(main, ["gaps"]).output
    log = GapsLog(tmp_path / "gaps.sqlite", retention_days=30)
    for question in [*FLYING, PARKING[0]]:
        log.record(question)

    result = runner.invoke(main, ["gaps"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    today = datetime.now(timezone.utc).date().isoformat()
    assert lines == [f"3 x  {today}", *(f"    {today}  {q}" for q in FLYING), f"1 x  {today}", f"    {today}  {PARKING[0]}"]

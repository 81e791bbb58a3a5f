"""Thumbs up/down: stored with the shown document ids and never the text, from the chat page, the
widget's page and POST /api/feedback; `clinic-assistant feedback` counts them per document."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from assistant.cli import main
from assistant.records.feedback import FeedbackError, FeedbackStore
from assistant.texts import DISCLAIMER
from tests.live_server import (
    LoopbackOnly,
    axe_violations,
    chromium_context,
    needs_chromium,
    running_server,
)

QUESTION = "Where does breast cancer usually spread?"
BOT_MESSAGE = '[data-testid="bot"]'
ANSWER_MS = 60_000


def _rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT vote, number, doc_id FROM votes JOIN shown ON shown.vote_id = votes.id "
                          "ORDER BY votes.id, number").fetchall()


def _every_stored_value(path) -> str:
    with sqlite3.connect(path) as db:
        votes = db.execute("SELECT * FROM votes").fetchall()
        shown = db.execute("SELECT * FROM shown").fetchall()
    return repr(votes + shown)


def test_store_counts_votes_per_document(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.record("up", ["liver.txt", "bones.md"])
    store.record("down", ["liver.txt"])
    store.record("down", [])  # an answer without passages

    assert [(v.doc_id, v.up, v.down) for v in store.summary()] == [
        ("liver.txt", 1, 1), ("", 0, 1), ("bones.md", 1, 0)]
    with pytest.raises(FeedbackError):
        store.record("maybe", ["liver.txt"])
    with pytest.raises(FeedbackError):
        store.record("up", "liver.txt")


def test_cli_feedback_lists_votes_per_document(tmp_path, monkeypatch):
    monkeypatch.setenv("FEEDBACK_DB", str(tmp_path / "votes.sqlite"))
    assert "No votes" in CliRunner().invoke(main, ["feedback"]).output
    FeedbackStore(tmp_path / "votes.sqlite").record("up", ["liver.txt"])

    result = CliRunner().invoke(main, ["feedback"])

    assert result.exit_code == 0, result.output
    assert "    1     0  liver.txt" in result.output


@pytest.fixture(scope="module")
def served(seed_settings, seed_assistant, tmp_path_factory):
    database = tmp_path_factory.mktemp("feedback") / "feedback.sqlite"
    settings = seed_settings.with_(rate_limit_per_minute=0, feedback_db=database)
    with running_server(settings, assistant=seed_assistant) as url:
        yield url, database


def test_api_stores_a_vote_with_the_document_ids(served):
    url, database = served
    answer = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()
    doc_ids = [p["doc_id"] for p in answer["passages"]]

    response = httpx.post(f"{url}/api/feedback", json={"doc_ids": doc_ids, "vote": "down"}, timeout=60)

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "stored", "disclaimer": DISCLAIMER}
    assert _rows(database)[-len(doc_ids):] == [("down", n, d) for n, d in enumerate(doc_ids, start=1)]


@pytest.mark.parametrize("body", [
    {"doc_ids": ["a.txt"]},
    {"doc_ids": ["a.txt"], "vote": "up", "question": QUESTION},  # text is refused, not ignored
    {"doc_ids": ["a.txt"], "vote": 1},
    {"doc_ids": [1], "vote": "up"},
    {"doc_ids": None, "vote": "up"},
    {"doc_ids": ["a.txt"] * 21, "vote": "up"},
    [],
])
def test_api_refuses_a_malformed_vote(served, body):
    response = httpx.post(f"{served[0]}/api/feedback", json=body, timeout=60)

    assert response.status_code == 422, response.text
    assert set(response.json()) == {"error", "disclaimer"}


def test_api_votes_are_rate_limited(seed_settings, seed_assistant, tmp_path):
    settings = seed_settings.with_(rate_limit_per_minute=1, feedback_db=tmp_path / "feedback.sqlite")
    with running_server(settings, assistant=seed_assistant) as url:
        vote = {"doc_ids": ["liver.txt"], "vote": "up"}
        first = httpx.post(f"{url}/api/feedback", json=vote, timeout=60)
        second = httpx.post(f"{url}/api/feedback", json=vote, timeout=60)
        # Votes have their own allowance: a question may still be asked.
        question = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60)

    assert first.status_code == 200
    assert second.status_code == 429 and second.headers["Retry-After"]
    assert question.status_code == 200


@needs_chromium
@pytest.mark.parametrize("path", ["/", "/widget/"])
def test_thumbs_in_the_chat_store_the_shown_documents_and_pass_axe(served, path):
    url, database = served
    with chromium_context() as context:
        loopback = LoopbackOnly(context)
        page = context.new_page()
        page.goto(url + path)
        box = page.locator('textarea[data-testid="textbox"]')
        box.fill(QUESTION)
        box.press("Enter")
        answer = page.locator(BOT_MESSAGE).last
        expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)
        before = len(_rows(database))

        # The vote's request is answered once vote() has stored it.
        with page.expect_response(lambda r: "/gradio_api/" in r.url and r.request.method == "POST"):
            page.get_by_role("button", name="Like", exact=True).last.click()
        expect(page.get_by_role("button", name="Liked", exact=True)).to_be_visible()

        assert axe_violations(page) == []  # the thumbs add no accessibility failure
        assert loopback.elsewhere() == []
    shown = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()["passages"]
    assert shown
    assert _rows(database)[before:] == [("up", p_number, p["doc_id"]) for p_number, p in enumerate(shown, start=1)]
    stored = _every_stored_value(database)
    assert "breast cancer" not in stored.lower() and "Breast cancer - lungs" not in stored

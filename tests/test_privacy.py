"""No patient data kept: with every logger at DEBUG (uvicorn's access log among them), questions
sent through the API and the chat page never appear in a log line or in a file written on disk.

Each question carries a made-up word that appears nowhere else, so finding it anywhere means
the question was written there.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from assistant.texts import DISCLAIMER
from tests.conftest import ROOT
from tests.live_server import (
    FailingAssistant,
    LoopbackOnly,
    chromium_context,
    needs_chromium,
    running_server,
)

ANSWER_MS = 60_000
# Folders of this checkout that are not written by the service: git's, and installed test tools.
NOT_WRITTEN_HERE = {".git", "node_modules"}


def _questions(marker: str) -> dict[str, str]:
    return {
        "normal": f"Where does breast cancer usually spread, {marker}?",
        "urgent": f"My dad {marker} has bone metastases and suddenly can't feel his legs",
        # No rule fires: the learnt signal decides (urgent, then possibly urgent), naming an example.
        "learnt urgent": f"my calf is red, swollen and painful and now I'm short of breath, {marker}",
        "possible": f"my leg aches a bit and looks a little swollen, is that normal? {marker}",
        "abstained": f"What is the best recipe for {marker} pancakes?",
        "too long": f"{marker} where does it spread " * 60,
    }


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the message with its arguments, and any traceback


@pytest.fixture
def capture_every_log():
    """A function that puts every logger at DEBUG and captures its lines, at the root and at each
    logger that does not pass records up to it (uvicorn's access and error logs). Call it once
    the servers run: uvicorn sets its loggers' levels and handlers as it starts."""
    handler = Captured()
    levels: dict[logging.Logger, int] = {}

    def capture() -> list[str]:
        loggers = [logging.getLogger()] + [
            logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            levels.setdefault(logger, logger.level)
            logger.setLevel(logging.DEBUG)
            if (logger is logging.getLogger() or not logger.propagate) and handler not in logger.handlers:
                logger.addHandler(handler)
        return handler.lines

    yield capture
    for logger, level in levels.items():
        logger.setLevel(level)
        if handler in logger.handlers:
            logger.removeHandler(handler)


def _files_written_since(started: float, folders: list[Path]) -> list[Path]:
    files = []
    for folder in folders:
        for directory, subdirectories, names in os.walk(folder):
            subdirectories[:] = [d for d in subdirectories if d not in NOT_WRITTEN_HERE]
            for name in names:
                path = Path(directory, name)
                try:
                    if path.stat().st_mtime >= started:
                        files.append(path)
                except OSError:  # a temporary file removed while we walk
                    pass
    return files


@needs_chromium
def test_questions_are_never_logged_or_written(seed_settings, seed_assistant, tmp_path, capture_every_log):
    marker = "qz" + uuid.uuid4().hex[:10]
    questions = _questions(marker)
    started = time.time() - 1  # file times may be rounded down
    settings = seed_settings.with_(rate_limit_per_minute=0, feedback_db=tmp_path / "data" / "feedback.sqlite")

    with (
        running_server(settings, assistant=seed_assistant) as url,
        running_server(settings, assistant=FailingAssistant(seed_assistant)) as failing,
    ):
        log_lines = capture_every_log()
        with httpx.Client(timeout=60) as client:
            for kind, question in questions.items():
                response = client.post(f"{url}/api/ask", json={"question": question})
                assert response.status_code == 200
                if kind in ("learnt urgent", "possible"):
                    assert response.json()["urgency"] == kind.replace("learnt ", "")
            assert client.post(f"{failing}/api/ask", json={"question": questions["normal"]}).status_code == 500
            assert client.post(f"{url}/api/feedback", json={"doc_ids": ["bones.md"], "vote": "up"}).status_code == 200

        with chromium_context() as context:
            loopback = LoopbackOnly(context)
            page = context.new_page()
            for base, asked in [(url, questions.values()), (failing, [questions["normal"]])]:
                page.goto(base)
                for n, question in enumerate(asked):
                    box = page.locator('textarea[data-testid="textbox"]')
                    box.fill(question)
                    box.press("Enter")
                    expect(page.locator('[data-testid="bot"]').nth(n)).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)
            page.get_by_role("button", name="Like", exact=True).first.click()
            assert loopback.elsewhere() == []

    logged = "\n".join(log_lines)
    assert "POST /api/ask" in logged  # the access log was captured: it names the path only
    assert "ask failed" in logged  # and so were the failures
    assert marker not in logged
    gradio_temp = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    folders = [ROOT, settings.index_dir, tmp_path, gradio_temp]
    written = [p for p in _files_written_since(started, [f for f in folders if f.exists()])
               if marker.encode() in p.read_bytes()]
    assert written == []

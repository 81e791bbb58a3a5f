"""The command line through click's runner: build, ask, ask --json, info, and --help."""

from __future__ import annotations

import json

from click.testing import CliRunner

from assistant.cli import main
from assistant.texts import DISCLAIMER

from .conftest import TINY_CORPUS


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for command in ["build", "ask", "serve", "info"]:
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output and "clinic-assistant" in result.output


def test_build_then_info_then_ask(tmp_path):
    runner = CliRunner()
    index = tmp_path / "index"
    built = runner.invoke(main, ["build", "--corpus", str(TINY_CORPUS), "--index", str(index)])
    assert built.exit_code == 0, built.output
    assert "Indexed 5 documents" in built.output
    assert "skipped junk.txt: binary content" in built.output

    info = runner.invoke(main, ["info", "--index", str(index)])
    assert info.exit_code == 0
    assert "sentence-transformers/all-MiniLM-L6-v2 (384 dimensions)" in info.output
    assert "liver.txt" in info.output

    again = runner.invoke(main, ["build", "--if-stale", "--corpus", str(TINY_CORPUS), "--index", str(index)])
    assert "up to date" in again.output

    asked = runner.invoke(main, ["ask", "--index", str(index), "Which medicine reduces brain swelling?"])
    assert asked.exit_code == 0
    assert "[1] Brain metastases" in asked.output and DISCLAIMER in asked.output

    as_json = runner.invoke(main, ["ask", "--json", "--index", str(index), "Which medicine reduces brain swelling?"])
    body = json.loads(as_json.output)
    assert set(body) == {"question", "query", "abstained", "urgent", "urgency", "urgent_reason", "passages",
                         "answer_markdown", "disclaimer"}
    assert body["urgency"] == "none" and body["urgent_reason"] is None
    assert body["passages"][0]["doc_id"] == "brain.html"
    assert body["passages"][0]["url"] == "https://clinic.example.org/brain-metastases"


def test_asking_without_an_index_says_how_to_build_one(tmp_path):
    result = CliRunner().invoke(main, ["ask", "--index", str(tmp_path / "none"), "anything"])
    assert result.exit_code == 1
    assert "No index in" in result.output and "clinic-assistant build" in result.output
    assert "Traceback" not in result.output

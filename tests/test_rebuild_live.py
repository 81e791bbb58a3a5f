"""Rebuilding while serving, with real processes: a build killed with SIGKILL mid-way, a build
that hits a file-size limit (the disk running out, as the kernel reports it), and a server on
loopback answering a steady stream of questions while a rebuild swaps its index.
"""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.index.store import current_build
from assistant.lifecycle.build import build_index

from .conftest import ROOT, SEED_CORPUS, TINY_CORPUS
from .live_server import running_server

CLI = [sys.executable, "-m", "assistant.cli"]
HAIR = "---\ntitle: Hair loss during treatment\n---\nScalp cooling caps reduce hair loss during chemotherapy. " \
       "Hair usually grows back within three to six months after the last treatment.\n"
# Generous limits for slow machines: they bound a hung test, they do not measure anything.
DEADLINE = 240


def _copy_of_seed_index(seed_settings, tmp_path) -> Settings:
    """The seed corpus and its built index, copied: each test may break its own."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEED_CORPUS, corpus)
    shutil.copytree(seed_settings.index_dir, index, symlinks=True)
    return Settings(corpus_dir=corpus, index_dir=index)


def _build_command(settings: Settings, *extra: str) -> list[str]:
    return [*CLI, "build", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), *extra]


def _leftovers(settings: Settings) -> list[str]:
    return [p.name for p in (settings.index_dir / "builds").iterdir() if p.name.startswith(".tmp-")]


def test_a_build_killed_mid_way_leaves_the_old_index_serving_and_the_next_build_recovers(
        seed_settings, tmp_path, embedder):
    settings = _copy_of_seed_index(seed_settings, tmp_path)
    served = current_build(settings.index_dir)
    with (settings.corpus_dir / "001_167aab3c5f5502f8.txt").open("a", encoding="utf-8") as handle:
        handle.write("\nThe clinic's nurses reviewed this page.\n")

    build = subprocess.Popen(_build_command(settings, "--full"), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    # Off a terminal, progress is plain lines on stderr: kill as the passages start to be embedded.
    for line in build.stderr:
        if line.startswith("embedding passages: 0/"):
            build.send_signal(signal.SIGKILL)
            break
    assert build.wait(timeout=DEADLINE) == -signal.SIGKILL

    assert _leftovers(settings), "the killed build should have left its staging folder"
    assert current_build(settings.index_dir) == served
    answer = Assistant.load(settings, embedder=embedder).ask("What are metastases?")
    assert answer.passages and not answer.abstained

    report = build_index(settings, embedder=embedder)
    assert report.changed == ["001_167aab3c5f5502f8.txt"] and report.full_reason is None
    assert report.cleaned_up and _leftovers(settings) == []
    assert current_build(settings.index_dir) == report.index_path != served


def test_a_build_that_runs_out_of_room_leaves_the_old_index_and_no_leftovers(seed_settings, tmp_path):
    settings = _copy_of_seed_index(seed_settings, tmp_path)
    served = current_build(settings.index_dir)

    def small_files() -> None:
        # Writes past 100 KB fail with EFBIG, as a full disk fails them with ENOSPC (Python
        # ignores SIGXFSZ, so the write raises instead of killing the process).
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    build = subprocess.run(_build_command(settings, "--full"), cwd=ROOT, capture_output=True, text=True,
                           preexec_fn=small_files, timeout=DEADLINE)

    assert build.returncode == 1
    assert "The build stopped: File too large" in build.stderr and "left as it was" in build.stderr
    assert "Traceback" not in build.stderr
    assert current_build(settings.index_dir) == served
    assert _leftovers(settings) == []
    assert json.loads((served / "manifest.json").read_text())["counts"]["documents"] == 5


def test_a_server_under_steady_questions_swaps_to_a_rebuilt_index_without_a_failed_request(
        tmp_path, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(TINY_CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", rate_limit_per_minute=0)
    build_index(settings, embedder=embedder)
    questions = ["Which medicine reduces brain swelling?", "What causes jaundice?", "Will my hair grow back?"]

    with running_server(settings, assistant=Assistant.load(settings, embedder=embedder)) as base_url:
        before = httpx.get(f"{base_url}/healthz", timeout=10).json()
        statuses: list[int | str] = []
        stop = threading.Event()

        def ask_steadily() -> None:
            with httpx.Client(base_url=base_url, timeout=DEADLINE) as client:
                while not stop.is_set():
                    try:
                        response = client.post("/api/ask", json={"question": questions[len(statuses) % 3]})
                        statuses.append(response.status_code)
                    except httpx.HTTPError as error:
                        statuses.append(type(error).__name__)

        asker = threading.Thread(target=ask_steadily, name="steady-questions")
        asker.start()
        try:
            (corpus / "hair.txt").write_text(HAIR, encoding="utf-8")
            built = subprocess.run(_build_command(settings, "--no-check"), cwd=ROOT, capture_output=True,
                                   text=True, timeout=DEADLINE)
            assert built.returncode == 0, built.stderr
            served_before_swap = len(statuses)
            deadline = time.monotonic() + DEADLINE
            while (after := httpx.get(f"{base_url}/healthz", timeout=10).json())["build"] == before["build"]:
                assert time.monotonic() < deadline, "the server never picked up the new build"
                time.sleep(0.2)
            swapped_at = len(statuses)
            while len(statuses) < swapped_at + 5:  # some answers from the new index, under the same stream
                time.sleep(0.1)
        finally:
            stop.set()
            asker.join(timeout=DEADLINE)

        assert served_before_swap > 0
        assert [s for s in statuses if s != 200] == []
        assert after["documents"] == before["documents"] + 1 and after["built_at"]
        answer = httpx.post(f"{base_url}/api/ask", json={"question": "Will my hair grow back after chemo?"},
                            timeout=60).json()
        assert answer["passages"][0]["doc_id"] == "hair.txt"

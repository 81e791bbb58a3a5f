"""The build on a Dask cluster (clinic-assistant[cluster]): two worker processes on 127.0.0.1,
each loading the real encoder once. Its index equals the local build's, it is incremental the
same way, the CLI reaches a scheduler over TCP, and without --cluster nothing imports Dask."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the cluster extra is not installed: pip install -e '.[cluster]'")

from assistant.config import Settings  # noqa: E402
from assistant.index import store  # noqa: E402
from assistant.index.store import current_build  # noqa: E402
from assistant.lifecycle.build import build_index  # noqa: E402
from assistant.lifecycle.cluster import dask_build  # noqa: E402
from tests.conftest import ROOT, SEED_CORPUS  # noqa: E402
from tests.services import free_port  # noqa: E402

CLI = [sys.executable, "-m", "assistant.cli"]
HAIR = "---\ntitle: Hair loss during treatment\n---\nScalp cooling caps reduce hair loss during chemotherapy. " \
       "Hair usually grows back within three to six months after the last treatment.\n"
# Float sums in another order, batches of other lengths: not bit for bit, but the same vectors.
SAME_VECTOR = 0.9999


@pytest.fixture(scope="module")
def cluster():
    """LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host 127.0.0.1, no dashboard)."""
    with dask_build("local", Settings(), workers=2) as on_cluster:
        yield on_cluster


def _index(settings: Settings):
    return store.load_index(settings.index_dir, model_name=settings.model_name)


def _assert_same_index(ours, theirs) -> None:
    assert [(c.id, c.doc_id, c.text, c.start, c.end) for c in ours.chunks] == \
        [(c.id, c.doc_id, c.text, c.start, c.end) for c in theirs.chunks]
    assert ours.sentences.tolist() == theirs.sentences.tolist()
    assert ours.chunk_titles.tolist() == theirs.chunk_titles.tolist()
    assert {k: v["content_hash"] for k, v in ours.manifest["documents"].items()} == \
        {k: v["content_hash"] for k, v in theirs.manifest["documents"].items()}
    for a, b in ((store.all_vectors(ours.vectors), store.all_vectors(theirs.vectors)),
                 (ours.title_vectors, theirs.title_vectors)):
        assert a.shape == b.shape and float(np.min(np.sum(a * b, axis=1))) >= SAME_VECTOR
    # Sentence vectors are kept in int8: compare them as the index reads them.
    rows = np.arange(len(ours.sentences))
    a, b = ours.sentence_vectors.rows(rows), theirs.sentence_vectors.rows(rows)
    cosines = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert float(cosines.min()) >= SAME_VECTOR


def test_the_cluster_build_of_the_seed_corpus_equals_the_local_build(cluster, seed_settings, tmp_path):
    settings = Settings(corpus_dir=SEED_CORPUS, index_dir=tmp_path / "index")

    report = build_index(settings, cluster=cluster)

    assert report.published and not report.skipped
    _assert_same_index(_index(settings), _index(seed_settings))


def test_an_incremental_cluster_build_sends_only_the_changed_document(cluster, seed_settings, tmp_path, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, corpus)
    local, distributed = (Settings(corpus_dir=corpus, index_dir=tmp_path / name) for name in ("local", "cluster"))
    for settings in (local, distributed):
        shutil.copytree(seed_settings.index_dir, settings.index_dir, symlinks=True)
    (corpus / "hair.txt").write_text(HAIR, encoding="utf-8")

    ours = build_index(distributed, cluster=cluster)
    theirs = build_index(local, embedder=embedder)

    assert ours.added == theirs.added == ["hair.txt"] and ours.unchanged == theirs.unchanged
    assert ours.embedded == theirs.embedded < 20  # the new document's texts, not the corpus's
    _assert_same_index(_index(distributed), _index(local))


def test_the_cli_builds_through_a_scheduler_over_tcp(cluster, tmp_path):
    address = cluster.client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")

    built = subprocess.run([*CLI, "build", "--corpus", str(SEED_CORPUS), "--index", str(tmp_path / "index"),
                            "--cluster", address], cwd=ROOT, capture_output=True, text=True, timeout=600)

    assert built.returncode == 0, built.stderr
    assert "Indexed 5 documents" in built.stdout and "check questions" in built.stdout


def test_without_a_scheduler_the_build_stops_cleanly_and_the_served_index_stays(seed_settings, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(seed_settings.index_dir, index, symlinks=True)
    (corpus := tmp_path / "corpus").mkdir()
    shutil.copytree(SEED_CORPUS, corpus, dirs_exist_ok=True)
    (corpus / "hair.txt").write_text(HAIR, encoding="utf-8")
    served = current_build(index)

    built = subprocess.run([*CLI, "build", "--corpus", str(corpus), "--index", str(index)], cwd=ROOT, timeout=600,
                           capture_output=True, text=True,
                           env={**_env(), "DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{free_port()}"})

    assert built.returncode == 1 and "no Dask scheduler answers at tcp://127.0.0.1:" in built.stderr
    assert "Traceback" not in built.stderr
    assert current_build(index) == served


def test_a_build_without_cluster_never_imports_dask(tmp_path):
    script = ("import sys\nfrom assistant.cli import main\n"
              f"main(['build', '--corpus', {str(SEED_CORPUS)!r}, '--index', {str(tmp_path / 'index')!r}, '--no-check'],"
              " standalone_mode=False)\n"
              "assert not {'dask', 'distributed'} & set(sys.modules), 'Dask was imported'\n")

    built = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env=_env())

    assert built.returncode == 0, built.stderr


def _env() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if name != "DASK_SCHEDULER_ADDRESS"}


def test_a_worker_killed_mid_build_is_replaced_and_the_build_still_equals_the_local_one(seed_settings, tmp_path):
    import os
    import signal
    from contextlib import contextmanager

    from assistant.lifecycle.progress import Progress

    class KillAWorkerWhenEmbeddingStarts(Progress):
        """Kills one worker process (SIGKILL: no goodbye) as the sentences start to be embedded."""

        def __init__(self, on_cluster) -> None:
            super().__init__()
            self.on_cluster, self.killed = on_cluster, None

        @contextmanager
        def stage(self, description: str, total: int, unit: str):
            with super().stage(description, total, unit) as advance:
                if description == "embedding sentences" and self.killed is None:
                    pids = self.on_cluster.client.run(os.getpid)
                    self.killed = sorted(pids.values())[0]
                    os.kill(self.killed, signal.SIGKILL)
                yield advance

    index = tmp_path / "index"
    shutil.copytree(seed_settings.index_dir, index, symlinks=True)
    served = current_build(index)
    settings = Settings(corpus_dir=SEED_CORPUS, index_dir=index)
    # A cluster of its own: this one loses a worker (its nanny starts a new one, plugin and all).
    with dask_build("local", settings, workers=2) as on_cluster:
        progress = KillAWorkerWhenEmbeddingStarts(on_cluster)
        try:
            report = build_index(settings, cluster=on_cluster, full=True, progress=progress)
        except Exception:  # noqa: BLE001 (failing cleanly is the other allowed outcome)
            report = None

    assert progress.killed is not None
    if report is None:  # Dask gave up on the tasks: the build failed and the served index stayed
        assert current_build(index) == served and not store.remove_leftovers(index)
    else:  # Dask ran the lost tasks again: the same index as a local build
        assert report.published and current_build(index) != served
        _assert_same_index(_index(settings), _index(seed_settings))

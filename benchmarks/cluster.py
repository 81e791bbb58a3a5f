"""Past one machine, measured on this one: the build locally and on Dask, and a paper estimate.

    python benchmarks/cluster.py [--passages 1000] [--work DIR] [--out FILE.json]

1. a corpus of about --passages passages (benchmarks/corpora.py, development documents);
2. a full local build (`clinic-assistant build --full --no-check`);
3. the same build on Dask: a scheduler and two `dask worker` processes (one thread each) on
   127.0.0.1, started as separate commands as on real machines, then `build --cluster tcp://...`;
4. questions answered in process by one worker thread (the answering rate of one core);
5. on paper, from those rates: the two-core nodes needed to build 1M passages in 10 minutes
   and to answer 1,000 questions a second.

Both builds share this machine's two cores with everything else running: the Dask figure is the
overhead on one box, not a speed-up (its two workers are the same two cores). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.corpora import write_corpus  # noqa: E402

CLI = [sys.executable, "-m", "assistant.cli"]
# /api/ask over HTTP took 1.3-1.4x the in-process answer (README "Performance", 1 client).
HTTP_OVERHEAD = 1.4
CORES_PER_NODE = 2
QUESTIONS = ["Where does breast cancer usually spread?", "How are bone metastases treated?",
             "What is the difference between local and distant metastases?", "Can metastases be cured?",
             "What are the symptoms of liver metastases?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(corpus: Path, index: Path, *extra: str) -> dict:
    shutil.rmtree(index, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run([*CLI, "build", "--corpus", str(corpus), "--index", str(index), "--no-check", "--full",
                           *extra], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"The build failed: {done.stderr[-2000:]}")
    manifest = json.loads((index / "current" / "manifest.json").read_text(encoding="utf-8"))
    return {"passages": manifest["counts"]["chunks"], "embedded": manifest["build"]["embedded"],
            "build_seconds": manifest["build_seconds"], "wall_seconds": round(wall, 1),
            "passages_per_s": round(manifest["counts"]["chunks"] / wall, 1)}


def dask_processes(workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and `workers` worker processes on 127.0.0.1, as separate commands."""
    dask = str(Path(sys.executable).with_name("dask"))  # Dask's own command, as on real machines
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)]
    address = f"tcp://127.0.0.1:{port}"
    for _ in range(workers):
        processes.append(subprocess.Popen([dask, "worker", address,
                                           "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"], **quiet))
    return address, processes


def answering_rate(index: Path, rounds: int = 60) -> float:
    """Questions per second answered in process, one after another, on one thread."""
    from assistant.answer import Assistant
    from assistant.config import Settings

    assistant = Assistant.load(Settings(corpus_dir=ROOT / "corpus", index_dir=index))
    for question in QUESTIONS:
        assistant.ask(question)  # warm
    started = time.perf_counter()
    for n in range(rounds):
        assistant.ask(QUESTIONS[n % len(QUESTIONS)])
    return rounds / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("BENCH_WORK", "/tmp/clinic-bench")))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    corpus = args.work / f"corpora/cluster-{args.passages}"
    if not corpus.exists():
        write_corpus(corpus, args.passages)

    local = build(corpus, args.work / "index-cluster-local")
    address, processes = dask_processes(workers=2)
    try:
        on_dask = build(corpus, args.work / "index-cluster-dask", "--cluster", address)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
    per_core_qps = answering_rate(args.work / "index-cluster-local")

    # On paper. The build: every passage brings its share of sentence and title texts; a node
    # of two one-thread workers embeds at the rate measured here for two workers.
    texts_per_passage = on_dask["embedded"] / on_dask["passages"]
    node_texts_per_s = on_dask["embedded"] / on_dask["build_seconds"]
    build_nodes = math.ceil(1_000_000 * texts_per_passage / 600 / node_texts_per_s)
    serve_nodes = math.ceil(1000 / (per_core_qps / HTTP_OVERHEAD * CORES_PER_NODE))
    figures = {"local": local, "dask_2_workers": on_dask,
               "dask_over_local_seconds": round(on_dask["wall_seconds"] / local["wall_seconds"], 2),
               "texts_per_passage": round(texts_per_passage, 2), "node_texts_per_s": round(node_texts_per_s, 1),
               "nodes_for_1M_passages_in_10_min": build_nodes, "questions_per_s_per_core": round(per_core_qps, 1),
               "nodes_for_1000_questions_per_s": serve_nodes}
    print(f"| figure | local | Dask, 2 workers |\n|---|---|---|\n"
          f"| passages | {local['passages']} | {on_dask['passages']} |\n"
          f"| wall s (build's own s) | {local['wall_seconds']} ({local['build_seconds']}) | "
          f"{on_dask['wall_seconds']} ({on_dask['build_seconds']}) |\n"
          f"| passages/s, whole command | {local['passages_per_s']} | {on_dask['passages_per_s']} |\n")
    print(f"On paper: {texts_per_passage:.2f} texts embedded per passage, {node_texts_per_s:.0f} texts/s per "
          f"two-worker node -> {build_nodes} nodes for 1M passages in 10 min (embedding only); "
          f"{per_core_qps:.0f} questions/s per core in process, /{HTTP_OVERHEAD} over HTTP, x{CORES_PER_NODE} cores "
          f"-> {serve_nodes} nodes for 1,000 questions/s.")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

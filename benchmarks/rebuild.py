"""Rebuild figures on a corpus of over 1,000 passages: a full build, the rebuild after one
document changed, and a live server answering a steady stream of questions while a rebuild swaps
its index.

    python benchmarks/rebuild.py [--dataset ../shared/eval/dev/medquad_cancergov] [--work DIR]

The dataset's documents are written out as .txt files with a front-matter title (what staff
would drop into corpus/). Builds and the server run as `clinic-assistant` subprocesses, as in
production; the build times are wall-clock, model load included. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: `assistant` is importable
CLI = [sys.executable, "-m", "assistant.cli"]


def write_corpus(dataset: Path, corpus: Path) -> list[Path]:
    corpus.mkdir(parents=True, exist_ok=True)
    files = []
    with (dataset / "docs.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            path = corpus / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', doc['id'])}.txt"
            path.write_text(f"---\ntitle: {doc['title']}\n---\n{doc['text']}\n", encoding="utf-8")
            files.append(path)
    return files


def build(corpus: Path, index: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*CLI, "build", "--corpus", str(corpus), "--index", str(index), "--no-check"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def change(path: Path, mark: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\nThis page was reviewed by the clinic's nurses ({mark}).\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def swap_under_load(corpus: Path, index: Path, questions: list[str], target: Path) -> dict:
    port = free_port()
    env = {**os.environ, "RATE_LIMIT_PER_MINUTE": "0", "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen([*CLI, "serve", "--index", str(index), "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2).json()
                break
            except (httpx.TransportError, ValueError):
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.5)
        results: list[tuple[float, bool]] = []  # (finished at, ok)
        stop = threading.Event()

        def ask_steadily() -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                n = 0
                while not stop.is_set():
                    try:
                        ok = client.post("/api/ask", json={"question": questions[n % len(questions)]}).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    results.append((time.monotonic(), ok))
                    n += 1

        asker = threading.Thread(target=ask_steadily)
        asker.start()
        time.sleep(3)
        change(target, "swap")
        build_started = time.monotonic()
        build_seconds, _ = build(corpus, index)
        published = time.monotonic()
        while httpx.get(f"{base}/healthz", timeout=10).json()["build"] == health["build"]:
            time.sleep(0.1)
        swapped = time.monotonic()
        time.sleep(5)
        stop.set()
        asker.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    during = [ok for at, ok in results if build_started <= at <= swapped]
    return {"requests": len(results), "failed": sum(not ok for _, ok in results),
            "during_build_and_swap": len(during), "failed_during": sum(not ok for ok in during),
            "build_seconds": build_seconds, "swap_seen_after_publish_s": swapped - published}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "eval" / "dev" / "medquad_cancergov")
    parser.add_argument("--work", type=Path, help="folder for the corpus and index [default: a temporary one]")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rebuild-bench-"))
    corpus, index = work / "corpus", work / "index"
    files = write_corpus(args.dataset, corpus)
    questions = [json.loads(line)["text"] for line in (args.dataset / "queries.jsonl").open(encoding="utf-8")]
    print(f"corpus: {len(files)} documents from {args.dataset.name} in {corpus}; {os.cpu_count()} cores")

    seconds, out = build(corpus, index)
    print(f"full build:        {seconds:6.1f} s wall  | {out.splitlines()[0]}")
    manifest = json.loads((index / "current" / "manifest.json").read_text(encoding="utf-8"))
    print(f"                   {manifest['counts']['chunks']} passages, {manifest['counts']['sentences']} sentences")

    change(files[len(files) // 2], "one")
    seconds, out = build(corpus, index)
    print(f"one doc changed:   {seconds:6.1f} s wall  | {out.splitlines()[0]}")

    from assistant.index.lexical import write_lexical_index
    from assistant.index.store import load_index

    chunks = load_index(index, model_name=manifest["model"]["name"]).chunks
    started = time.perf_counter()
    write_lexical_index(work / "lexical-timing.npz", chunks)
    print(f"lexical index rebuilt from all {len(chunks)} passages: {time.perf_counter() - started:.2f} s")

    swap = swap_under_load(corpus, index, questions, files[len(files) // 3])
    print(f"swap under load:   {swap['requests']} requests, {swap['failed']} failed; "
          f"{swap['during_build_and_swap']} served between build start and swap, {swap['failed_during']} failed; "
          f"build {swap['build_seconds']:.1f} s, new index served {swap['swap_seen_after_publish_s']:.1f} s after publish")


if __name__ == "__main__":
    main()

"""The benchmark suite in one command: build, the model's encoding limit, questions in process and
over HTTP, memory and disk, on the seed corpus and on about 10,000 and 100,000 passages.

    python benchmarks/run.py [--sizes seed,10k,100k] [--work DIR] [--code DIR] [--reuse] [--out FILE.json] [--label NAME]
                             [--sustain SECONDS]
    python benchmarks/run.py --compare BEFORE.json AFTER.json

Per size, in this order:
1. the corpus (benchmarks/corpora.py) in WORK/corpora/SIZE, written unless it is there;
2. a full build as staff run it (`clinic-assistant build --full`, a subprocess) into WORK/index-SIZE;
   with --reuse an existing index is measured as it is;
3. the model's raw encoding rate on a sample of that build's passages, sentences and titles: what
   the build would take if it did nothing but encode (its physical limit);
4. questions answered in process: total and per-stage p50/p95, and the model's own encoding of one
   query (the floor under any answer);
5. recall@10 of the served vector index against exact search, when the index is approximate;
6. the server as a subprocess: cold start, latency at 1, 10 and 50 concurrent clients, 10 clients
   sustained (--sustain seconds), a surge of 200 at once, its peak memory;
7. the index's size on disk.

--code DIR measures another checkout with the same corpora and questions (one with the stage folders,
assistant/index/ and the rest: its modules are imported by those paths), e.g. the commit before:
`git worktree add /tmp/before HEAD~1`, then `--code /tmp/before --work /tmp/bench-before`.
WORK defaults to BENCH_WORK or /tmp/clinic-bench. Every timing is a median over rounds. Prints
markdown tables; --out writes the figures as JSON after each size, so a crash keeps the finished
sizes. Asserts nothing. The load clients share the server's cores: run it on an otherwise idle
machine and compare runs made on the same one.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import inspect
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import corpora  # benchmarks/corpora.py: a script's own folder is first on sys.path
import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SIZES = ("seed", "10k", "100k")
# Stage names the assistant reports with respond(..., timings=); any others follow these.
STAGES = ("safety", "encode", "vector search", "lexical search", "fusion", "highlight", "selection")
ROUNDS = 3
ENCODE_SAMPLE = 600  # passages (and their sentences and titles) timed per round: ~40 s a round
TORCH_SAMPLE = 200  # of those, encoded by torch too (~7 s a round): the rate before ONNX
QUESTION_SAMPLE = 200
LOAD_LEVELS = ((1, 100), (10, 30), (50, 10))  # (concurrent clients, requests each)
SURGE_CLIENTS = 200
SURGE_TIMEOUT = 5.0
RELOAD_ASKING = 8.0  # seconds of questions around a reload: it is published 1 s in
SEED = 0  # every sample is fixed, so two runs (two checkouts) measure the same texts and questions


# --- small helpers ---------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else None


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def code_env(code: Path, **extra: str) -> dict[str, str]:
    """The environment for a subprocess of CODE: its packages first on the path."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env


def git_label(code: Path) -> str:
    """CODE's short commit, with "-dirty" when tracked files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(code), *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(text: str) -> None:
    print(text, flush=True)


# --- 1. corpus and questions -----------------------------------------------------------------

def prepare_corpus(work: Path, size: str) -> Path:
    """WORK/corpora/SIZE, written unless there. Written beside and renamed, so a folder that
    exists is complete."""
    target = work / "corpora" / size
    if target.exists():
        return target
    partial = target.with_name(f"{size}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    if size == "seed":
        shutil.copytree(ROOT / "corpus", partial)
    else:
        partial.mkdir(parents=True)
        corpora.write_corpus(partial, corpora.TARGETS[size])
    partial.rename(target)
    return target


def questions_for(size: str) -> list[str]:
    """The seed questions for the seed pages; for the larger corpora, a fixed sample of the
    development questions those documents answer."""
    if size == "seed":
        return [q for q in (HERE / "seed_questions.txt").read_text(encoding="utf-8").splitlines() if q.strip()]
    pool = []
    for name in corpora.DATASETS:
        with (corpora.DEV / name / "queries.jsonl").open(encoding="utf-8") as handle:
            pool += [json.loads(line)["text"] for line in handle if line.strip()]
    return random.Random(SEED).sample(pool, min(QUESTION_SAMPLE, len(pool)))


# --- 2. build --------------------------------------------------------------------------------

def build(code: Path, corpus: Path, index: Path, *, reuse: bool, log: Path) -> dict:
    """A full build as staff run it (unless reused), and its figures from the manifest."""
    manifest_path = index / "current" / "manifest.json"
    wall = None
    if not (reuse and manifest_path.exists()):
        command = [sys.executable, "-m", "assistant.cli", "build", "--corpus", str(corpus), "--index", str(index),
                   "--no-check", "--full"]
        started = time.perf_counter()
        with log.open("w", encoding="utf-8") as out:
            done = subprocess.run(command, cwd=code, env=code_env(code), stdout=out, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - started
        if done.returncode:
            raise SystemExit(f"The build failed (exit {done.returncode}); see {log}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    counts, details = manifest["counts"], manifest.get("build", {})
    # Newer builds encode identical texts once and record what they encoded; older ones encode all.
    embedded = details.get("embedded_texts") or {
        "passages": counts["chunks"], "sentences": counts["sentences"], "titles": counts["titles"]}
    return {
        "documents": counts["documents"], "chunks": counts["chunks"], "sentences": counts["sentences"],
        "titles": counts["titles"],
        "build_seconds": manifest["build_seconds"],  # in the build: model load included, interpreter start-up not
        "wall_seconds": wall,  # the whole command, None when reused
        "embedded": details.get("embedded"),
        "embedded_texts": embedded,
        "embedded_texts_recorded": "embedded_texts" in details,
        # Per passage the build embedded, not per passage in the index: a build on top of an
        # earlier one (the 100k index grows from the 10k one) reuses the earlier passages.
        "chunks_per_s": embedded["passages"] / manifest["build_seconds"],
    }


# --- 3. raw encoding -------------------------------------------------------------------------

def sample_texts(index: Path) -> dict[str, list[str]]:
    """The texts the build encoded, for a fixed sample of its passages: the passages as the model
    reads them, their highlight sentences, and their distinct titles."""
    from dataclasses import fields

    from assistant.lifecycle.build import embedding_text
    from assistant.types import Chunk

    folder = (index / "current").resolve()
    names = {field.name for field in fields(Chunk)}
    with (folder / "chunks.jsonl").open(encoding="utf-8") as handle:
        chunks = [Chunk(**{k: v for k, v in json.loads(line).items() if k in names}) for line in handle if line.strip()]
    rows = sorted(random.Random(SEED).sample(range(len(chunks)), min(ENCODE_SAMPLE, len(chunks))))
    chosen = set(rows)
    spans = np.load(folder / "sentences.npy")
    return {
        "passages": [embedding_text(chunks[row]) for row in rows],
        "sentences": [chunks[row].text[start:end] for row, start, end in spans.tolist() if row in chosen],
        "titles": list(dict.fromkeys(chunks[row].title for row in rows if chunks[row].title.strip())),
    }


def code_embedder(index: Path, threads: int):
    """The measured checkout's encoder: ONNX (load_embedder, with the index's export) or, in a
    checkout from before it, sentence-transformers in torch."""
    from assistant.config import Settings
    from assistant.index import embed

    settings = Settings.from_env().with_(index_dir=index)
    if hasattr(embed, "load_embedder"):
        return embed.load_embedder(settings, threads=threads)
    return embed.Embedder(settings.resolved_model_path, threads=threads)


def torch_model(threads: int):
    """sentence-transformers in torch float32 on `threads` threads, as the server and the build
    encoded before ONNX: the yardstick of torch_encode_floor and torch_passages_per_s. Loaded
    here rather than through the measured checkout, which may have no torch path at all."""
    import torch
    from sentence_transformers import SentenceTransformer

    from assistant.config import Settings

    torch.set_num_threads(threads)
    return SentenceTransformer(str(Settings.from_env().resolved_model_path), device="cpu", local_files_only=True,
                               model_kwargs={"dtype": torch.float32})


def torch_encode_floor(questions: list[str]) -> float:
    """p50 ms of sentence-transformers in torch float32 encoding one question on one thread, as
    the server did before ONNX: the yardstick the ONNX encoder and the answer are held to, timed
    in the same run as them."""
    import torch

    class Torch:
        def __init__(self, model) -> None:
            self.model = model

        def encode_query(self, text: str) -> np.ndarray:
            with torch.inference_mode():
                return self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]

    model = torch_model(threads=1)
    floor, _ = encode_floor(Torch(model), questions)
    del model
    gc.collect()
    return floor


def torch_passages_per_s(passages: list[str]) -> float:
    """Passages per second sentence-transformers in torch float32 encodes on two threads, in
    its own batches: the build's rate before ONNX, timed in the same run on the same texts."""
    import torch

    model = torch_model(threads=2)
    seconds = []
    with torch.inference_mode():
        model.encode(passages[:32], show_progress_bar=False)  # warm-up
        for _ in range(ROUNDS):
            started = time.perf_counter()
            model.encode(passages, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
            seconds.append(time.perf_counter() - started)
    del model
    gc.collect()
    return len(passages) / statistics.median(seconds)


def raw_encoding(index: Path, built: dict) -> dict:
    """Texts per second the model encodes on two threads and nothing else, per kind of text, and
    what the build's own texts would take at those rates: the ceiling a build can approach."""
    texts = sample_texts(index)
    embedder = code_embedder(index, threads=2)
    embedder.encode(texts["passages"][:32], threads=2)  # warm-up: first-call costs are not the rate
    seconds: dict[str, list[float]] = {kind: [] for kind in texts}
    for _ in range(ROUNDS):
        for kind, batch in texts.items():
            started = time.perf_counter()
            embedder.encode(batch, threads=2)
            seconds[kind].append(time.perf_counter() - started)
    del embedder
    gc.collect()
    rates = {kind: len(texts[kind]) / statistics.median(seconds[kind]) if texts[kind] else None for kind in texts}
    torch_rate = torch_passages_per_s(texts["passages"][:TORCH_SAMPLE])
    raw_seconds = sum(n / rates[kind] for kind, n in built["embedded_texts"].items() if n and rates.get(kind))
    raw_chunks_per_s = built["embedded_texts"]["passages"] / raw_seconds
    return {
        "sample": {kind: len(batch) for kind, batch in texts.items()},
        "seconds": seconds,
        "passages_per_s": rates["passages"], "sentences_per_s": rates["sentences"], "titles_per_s": rates["titles"],
        "torch_passages_per_s": torch_rate, "passages_over_torch": rates["passages"] / torch_rate,
        "raw_build_seconds": raw_seconds,
        "chunks_per_s": raw_chunks_per_s,
        "ratio_build_to_raw": built["chunks_per_s"] / raw_chunks_per_s,
    }


# --- 4 and 5. questions in process -----------------------------------------------------------

def ordered_stages(names) -> list[str]:
    return [s for s in STAGES if s in names] + [s for s in names if s not in STAGES]


def time_questions(assistant, questions: list[str]) -> dict:
    """Total and per-stage p50/p95 ms over ROUNDS passes (medians of the rounds). Older code has
    no `timings=`: then only the total of ask() is timed."""
    staged = "timings" in inspect.signature(assistant.respond).parameters

    def ask(question: str) -> tuple[float, dict[str, float]]:
        stages: dict[str, float] = {}
        started = time.perf_counter()
        if staged:
            assistant.respond(question, None, timings=stages)
        else:
            assistant.ask(question)
        return ms_since(started), stages

    for question in questions[:5]:
        ask(question)  # warm-up
    totals, stages_by_round = [], []
    for _ in range(ROUNDS):
        round_totals, round_stages = [], {}
        for question in questions:
            total, stages = ask(question)
            round_totals.append(total)
            for name, ms in stages.items():
                round_stages.setdefault(name, []).append(ms)
        totals.append(round_totals)
        stages_by_round.append(round_stages)
    names = ordered_stages(dict.fromkeys(name for r in stages_by_round for name in r))
    return {
        "staged": staged,
        "p50_ms": statistics.median(percentile(r, 50) for r in totals),
        "p95_ms": statistics.median(percentile(r, 95) for r in totals),
        "stages": {name: {p: statistics.median(percentile(r.get(name, []), n) for r in stages_by_round
                                               if name in r)
                          for p, n in (("p50_ms", 50), ("p95_ms", 95))}
                   for name in names},
    }


def encode_floor(embedder, questions: list[str]) -> tuple[float, np.ndarray]:
    """p50 ms of the model encoding one question, as the server does (median of the rounds), and
    the question vectors."""
    p50s, vectors = [], []
    for _ in range(ROUNDS):
        times, vectors = [], []
        for question in questions:
            started = time.perf_counter()
            vectors.append(embedder.encode_query(question))
            times.append(ms_since(started))
        p50s.append(percentile(times, 50))
    return statistics.median(p50s), np.stack(vectors)


def recall_at_10(vector_index, queries: np.ndarray) -> float | str:
    """Mean share of the exact 10 nearest passages the served index finds; "exact" for a flat index."""
    if type(vector_index).__name__.startswith("IndexFlat"):
        return "exact"
    from assistant.index import store

    vectors = store.all_vectors(vector_index)
    k = min(10, len(vectors))
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :k]
    _, found = vector_index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return float(np.mean([len(set(a) & set(e)) / k for a, e in zip(found.tolist(), exact.tolist())]))


def in_process(index: Path, questions: list[str]) -> dict:
    from assistant.answer import Assistant
    from assistant.config import Settings

    assistant = Assistant.load(Settings.from_env().with_(index_dir=index))
    figures = time_questions(assistant, questions)
    embedder = assistant.retriever.embedder
    # As the server encodes the question of the only answer under way (embed.Embedder.answering).
    with embedder.answering() if hasattr(embedder, "answering") else contextlib.nullcontext():
        figures["encode_floor_p50_ms"], vectors = encode_floor(embedder, questions)
    # The same questions on one thread each, as the server encodes them under load (embed.Embedder).
    figures["encode_one_thread_p50_ms"], _ = encode_floor(code_embedder(index, threads=1), questions)
    figures["torch_encode_p50_ms"] = torch_encode_floor(questions)
    figures["encode_over_torch"] = figures["encode_floor_p50_ms"] / figures["torch_encode_p50_ms"]
    vector_index = assistant.retriever.index.vectors
    figures["index_type"] = type(vector_index).__name__
    figures["recall_at_10"] = recall_at_10(vector_index, vectors)
    del assistant, vector_index
    gc.collect()
    return figures


# --- 6. HTTP ---------------------------------------------------------------------------------

class Server:
    """`clinic-assistant serve` as a subprocess on a free loopback port, without the rate limit."""

    def __init__(self, code: Path, index: Path, log: Path) -> None:
        self.code, self.index, self.log = code, index, log
        self.process: subprocess.Popen | None = None
        self.base = ""

    def start(self) -> float:
        """Start it; the perf_counter time of the Popen."""
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = code_env(self.code, RATE_LIMIT_PER_MINUTE="0", GRADIO_ANALYTICS_ENABLED="False")
        command = [sys.executable, "-m", "assistant.cli", "serve", "--index", str(self.index),
                   "--host", "127.0.0.1", "--port", str(port)]
        with self.log.open("a", encoding="utf-8") as out:
            started = time.perf_counter()
            self.process = subprocess.Popen(command, cwd=self.code, env=env, stdout=out, stderr=subprocess.STDOUT)
        return started

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def memory_mib(self) -> dict[str, float]:
        """Peak (VmHWM) and current (VmRSS) resident memory of the server process."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        kib = {name: int(fields[name].split()[0]) for name in ("VmHWM", "VmRSS")}
        return {"peak_rss_mib": kib["VmHWM"] / 1024, "rss_mib": kib["VmRSS"] / 1024}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def cold_start(server: Server, question: str, limit: float = 600) -> float:
    """Seconds from starting the server to its first 200 answer, polling every 50 ms."""
    # The client exists before the server starts: making it is not the server's start-up.
    with httpx.Client(timeout=httpx.Timeout(60, connect=0.5)) as client:
        started = server.start()
        while True:
            try:
                if client.post(f"{server.base}/api/ask", json={"question": question}).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if not server.alive():
                raise SystemExit(f"The server stopped while starting; see {server.log}")
            if time.perf_counter() - started > limit:
                raise SystemExit(f"No answer {limit:.0f} s after starting the server; see {server.log}")
            time.sleep(0.05)


def drive(base: str, questions: list[str], clients: int, *, each: int | None = None,
          seconds: float | None = None) -> dict:
    """`clients` concurrent clients, each asking questions one after another, `each` requests or
    for `seconds`. Each client starts at its own place in the question list."""
    results: list[list[tuple[float, bool]]] = [[] for _ in range(clients)]
    started: list[float] = []
    # The clients are made before the barrier: making 50 of them is not part of the load.
    barrier = threading.Barrier(clients, action=lambda: started.append(time.perf_counter()))

    def client_loop(number: int) -> None:
        offset = number * len(questions) // clients
        with httpx.Client(base_url=base, timeout=60) as client:
            barrier.wait()
            n = 0
            while (n < each) if each is not None else (time.perf_counter() < started[0] + seconds):
                question = questions[(offset + n) % len(questions)]
                sent = time.perf_counter()
                try:
                    ok = client.post("/api/ask", json={"question": question}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                results[number].append((ms_since(sent), ok))
                n += 1

    threads = [threading.Thread(target=client_loop, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started[0]
    times = [ms for client in results for ms, _ in client]
    return {"requests": len(times), "errors": sum(not ok for client in results for _, ok in client),
            "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "requests_per_s": len(times) / wall}


def latency_at(base: str, questions: list[str], clients: int, each: int) -> dict:
    """p50/p95 and requests/s at `clients` concurrent clients: medians of ROUNDS rounds."""
    rounds = [drive(base, questions, clients, each=each) for _ in range(ROUNDS)]
    figures = {key: statistics.median(r[key] for r in rounds) for key in ("p50_ms", "p95_ms", "requests_per_s")}
    return {**figures, "requests": sum(r["requests"] for r in rounds), "errors": sum(r["errors"] for r in rounds),
            "rounds": rounds}


def surge(server: Server, questions: list[str]) -> dict:
    """SURGE_CLIENTS requests at the same moment, each waiting at most SURGE_TIMEOUT s; then one
    more request at once: does the server answer it promptly, and is it still running?"""
    outcomes: list[tuple[float, int | str]] = [(0.0, "")] * SURGE_CLIENTS
    barrier = threading.Barrier(SURGE_CLIENTS)

    def one(number: int) -> None:
        with httpx.Client(base_url=server.base, timeout=SURGE_TIMEOUT) as client:
            question = questions[number % len(questions)]
            barrier.wait()
            sent = time.perf_counter()
            try:
                status: int | str = client.post("/api/ask", json={"question": question}).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            outcomes[number] = (time.perf_counter() - sent, status)

    threads = [threading.Thread(target=one, args=(number,)) for number in range(SURGE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(base_url=server.base, timeout=60) as client:
        sent = time.perf_counter()
        try:
            after: int | str = client.post("/api/ask", json={"question": questions[0]}).status_code
        except httpx.HTTPError as error:
            after = type(error).__name__
        after_ms = ms_since(sent)
    statuses = [status for _, status in outcomes]
    answered = [seconds for seconds, status in outcomes if isinstance(status, int)]
    failures = [status for status in statuses if isinstance(status, str)]
    return {
        "ok": statuses.count(200), "429": statuses.count(429), "503": statuses.count(503),
        "other": sum(isinstance(s, int) and s not in (200, 429, 503) for s in statuses),
        "failed": len(failures), "failures": {name: failures.count(name) for name in sorted(set(failures))},
        "max_answer_s": max(answered, default=None),
        "after_ms": after_ms, "after_status": after, "alive_after": server.alive(),
    }


def reload(server: Server, index: Path, questions: list[str], limit: float = 300) -> dict:
    """A new build published while two clients ask: a copy of the served build (other files,
    the same size, as a rebuild makes), published as a build publishes. Its figures: how long
    the server took to serve it, failed requests meanwhile, and the peak memory reached, which
    includes both indexes held for a moment."""
    from assistant.index import store

    served = store.current_build(index)
    staging = store.new_staging_folder(index)
    shutil.copytree(served, staging, dirs_exist_ok=True)
    outcome: dict = {}
    asking = threading.Thread(target=lambda: outcome.update(drive(server.base, questions, 2, seconds=RELOAD_ASKING)))
    asking.start()
    time.sleep(1.0)
    published_at = time.perf_counter()
    fresh = store.publish(index, staging)
    swapped = None
    with httpx.Client(base_url=server.base, timeout=10) as client:
        while time.perf_counter() - published_at < limit:
            if client.get("/healthz").json().get("build") == fresh.name:
                swapped = time.perf_counter() - published_at
                break
            time.sleep(0.05)
    asking.join()
    return {"swap_s": swapped, "requests": outcome.get("requests"), "errors": outcome.get("errors"),
            "p95_ms": outcome.get("p95_ms"), **{f"{k}_after": v for k, v in server.memory_mib().items()}}


def http(code: Path, index: Path, questions: list[str], *, sustain: float, log: Path) -> dict:
    """Cold start (three times, the third server kept), load at 1/10/50 clients, sustained load,
    a surge, and the memory the server reached through all of it."""
    server = Server(code, index, log)
    starts = []
    for attempt in range(3):
        starts.append(cold_start(server, questions[0]))
        if attempt < 2:
            server.stop()
    try:
        drive(server.base, questions, 1, each=5)  # warm-up
        levels = {str(clients): latency_at(server.base, questions, clients, each) for clients, each in LOAD_LEVELS}
        sustained = drive(server.base, questions, 10, seconds=sustain)
        surged = surge(server, questions)
        memory = server.memory_mib()
        reloaded = reload(server, index, questions)
    finally:
        server.stop()
    return {"cold_start_s": statistics.median(starts), "cold_starts_s": starts, "clients": levels,
            "sustained": {**sustained, "clients": 10, "seconds": sustain}, "surge": surged, **memory,
            "reload": reloaded}


# --- 7. disk ---------------------------------------------------------------------------------

def index_size(index: Path) -> dict:
    folder = (index / "current").resolve()
    files = {path.relative_to(folder).as_posix(): path.stat().st_size
             for path in sorted(folder.rglob("*")) if path.is_file()}
    return {"mib": sum(files.values()) / 2**20, "files": files}


# --- one size --------------------------------------------------------------------------------

def measure(size: str, code: Path, work: Path, *, reuse: bool, sustain: float) -> dict:
    # Other work on the machine skews every figure: keep the evidence with them.
    load_before = os.getloadavg()[0]
    corpus = prepare_corpus(work, size)
    index = work / f"index-{size}"
    questions = questions_for(size)
    say(f"[{size}] building {corpus} -> {index}")
    built = build(code, corpus, index, reuse=reuse, log=work / f"build-{size}.log")
    say(f"[{size}] {built['chunks']} chunks; timing the model's raw encoding")
    raw = raw_encoding(index, built)
    say(f"[{size}] {len(questions)} questions in process")
    query = in_process(index, questions)
    say(f"[{size}] HTTP: cold starts, 1/10/50 clients, {sustain:.0f} s sustained, surge of {SURGE_CLIENTS}")
    served = http(code, index, questions, sustain=sustain, log=work / f"server-{size}.log")
    served["over_encode_floor"] = served["clients"]["1"]["p50_ms"] / query["encode_floor_p50_ms"]
    served["over_torch_encode"] = served["clients"]["1"]["p50_ms"] / query["torch_encode_p50_ms"]
    return {"corpus": str(corpus), "questions": len(questions),
            "load_average": {"before": load_before, "after": os.getloadavg()[0]}, "build": built, "raw_encode": raw,
            "query": query, "http": served, "index": index_size(index)}


# --- tables ----------------------------------------------------------------------------------

Row = tuple[str, str, list[tuple[str, ...]]]  # label, format spec, one key path per value shown

BEFORE_STAGES: list[Row] = [
    ("load average before/after (1 min)", ".1f", [("load_average", "before"), ("load_average", "after")]),
    ("chunks", "d", [("build", "chunks")]),
    ("build s (manifest)", ".1f", [("build", "build_seconds")]),
    ("build wall s (command)", ".1f", [("build", "wall_seconds")]),
    ("build chunks/s", ".1f", [("build", "chunks_per_s")]),
    ("raw encode chunks/s (all texts)", ".1f", [("raw_encode", "chunks_per_s")]),
    ("ratio build/raw", ".2f", [("raw_encode", "ratio_build_to_raw")]),
    ("raw passage-only chunks/s", ".1f", [("raw_encode", "passages_per_s")]),
    ("torch fp32 passages/s, 2 threads (same run)", ".1f", [("raw_encode", "torch_passages_per_s")]),
    ("raw passages/s / torch fp32", ".2f", [("raw_encode", "passages_over_torch")]),
    ("raw sentences/s", ".1f", [("raw_encode", "sentences_per_s")]),
    ("query p50 ms", ".1f", [("query", "p50_ms")]),
    ("query p95 ms", ".1f", [("query", "p95_ms")]),
]
AFTER_STAGES: list[Row] = [
    ("encode floor p50 ms", ".2f", [("query", "encode_floor_p50_ms")]),
    ("encode p50 ms on one thread (under load)", ".2f", [("query", "encode_one_thread_p50_ms")]),
    ("torch fp32 encode p50 ms (same run)", ".2f", [("query", "torch_encode_p50_ms")]),
    ("encode floor / torch fp32", ".2f", [("query", "encode_over_torch")]),
    ("HTTP 1 client p50/p95 ms", ".1f", [("http", "clients", "1", "p50_ms"), ("http", "clients", "1", "p95_ms")]),
    ("HTTP 1 client p50 / encode floor", ".1f", [("http", "over_encode_floor")]),
    ("HTTP 1 client p50 / torch fp32 encode", ".2f", [("http", "over_torch_encode")]),
    ("HTTP 10 clients p50/p95 ms", ".1f", [("http", "clients", "10", "p50_ms"), ("http", "clients", "10", "p95_ms")]),
    ("HTTP 50 clients p50/p95 ms", ".1f", [("http", "clients", "50", "p50_ms"), ("http", "clients", "50", "p95_ms")]),
    ("HTTP req/s at 1/10/50 clients", ".1f", [("http", "clients", c, "requests_per_s") for c in ("1", "10", "50")]),
    ("HTTP errors at 1/10/50 clients", "d", [("http", "clients", c, "errors") for c in ("1", "10", "50")]),
    ("sustained 10 clients p50/p95 ms", ".1f", [("http", "sustained", "p50_ms"), ("http", "sustained", "p95_ms")]),
    ("sustained requests/errors", "d", [("http", "sustained", "requests"), ("http", "sustained", "errors")]),
    ("sustained answers/s", ".1f", [("http", "sustained", "requests_per_s")]),
    ("surge 200: ok/429/503/other/failed", "d", [("http", "surge", k) for k in ("ok", "429", "503", "other", "failed")]),
    ("surge max s to an answer", ".2f", [("http", "surge", "max_answer_s")]),
    ("after surge: one request ms", ".1f", [("http", "surge", "after_ms")]),
    ("after surge: status, server alive", "d", [("http", "surge", "after_status"), ("http", "surge", "alive_after")]),
    ("cold start s", ".1f", [("http", "cold_start_s")]),
    ("server peak/current RSS MiB", ".0f", [("http", "peak_rss_mib"), ("http", "rss_mib")]),
    ("reload: s to serve the new build, errors", ".1f", [("http", "reload", "swap_s"), ("http", "reload", "errors")]),
    ("reload: peak RSS MiB (both indexes)", ".0f", [("http", "reload", "peak_rss_mib_after")]),
    ("index MiB", ".1f", [("index", "mib")]),
    ("vector index type", "s", [("query", "index_type")]),
    ("recall@10 vs exact", ".3f", [("query", "recall_at_10")]),
]


def rows_for(*results: dict) -> list[Row]:
    """The table's rows; one per stage any of `results` reports, between the in-process totals and the rest."""
    names = ordered_stages(dict.fromkeys(name for r in results for name in r.get("query", {}).get("stages", {})))
    stages = [(f"stage {name} p50/p95 ms", ".2f", [("query", "stages", name, "p50_ms"), ("query", "stages", name, "p95_ms")])
              for name in names]
    if not names:  # older code: say that stages were not measured, rather than leave them out silently
        stages = [("stages p50/p95 ms", "s", [("query", "stages", "-")])]
    return BEFORE_STAGES + stages + AFTER_STAGES


def values(result: dict, paths: list[tuple[str, ...]]) -> list:
    found = []
    for path in paths:
        value = result
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        found.append(value)
    return found


def shown(value, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) or spec == "s":
        return str(value)
    return format(value, spec)


def cell(result: dict, row: Row) -> str:
    _, spec, paths = row
    return " / ".join(shown(v, spec) for v in values(result, paths))


# Figures that describe the run rather than the code: a ratio of them means nothing.
NO_RATIO = {"load average before/after (1 min)", "after surge: status, server alive"}


def ratio(before: dict, after: dict, row: Row) -> str:
    """after/before per value shown, where both are numbers."""
    if row[0] in NO_RATIO:
        return ""
    parts = []
    for a, b in zip(values(before, row[2]), values(after, row[2])):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        parts.append(f"{b / a:.2f}" if numeric and a else "-")
    return " / ".join(parts) if any(p != "-" for p in parts) else ""


def table(header: list[str], lines: list[list[str]]) -> str:
    rows = [header, ["---"] * len(header), *lines]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def print_summary(size: str, result: dict) -> None:
    say(f"\n{size}:")
    for row in rows_for(result):
        say(f"  {row[0]}: {cell(result, row)}")


def print_table(run: dict) -> None:
    sizes = list(run["sizes"])
    results = list(run["sizes"].values())
    say(f"\n{run['label']} ({run['cpus']} cores)\n")
    say(table(["figure", *sizes], [[row[0], *(cell(r, row) for r in results)] for row in rows_for(*results)]))


def compare(before_path: Path, after_path: Path) -> None:
    before, after = (json.loads(p.read_text(encoding="utf-8")) for p in (before_path, after_path))
    for size in [s for s in SIZES if s in before["sizes"] and s in after["sizes"]]:
        a, b = before["sizes"][size], after["sizes"][size]
        say(f"\n{size}\n")
        say(table(["figure", before["label"], after["label"], "ratio"],
                  [[row[0], cell(a, row), cell(b, row), ratio(a, b, row)] for row in rows_for(a, b)]))


# --- main ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated, of seed,10k,100k [default: all]")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("BENCH_WORK", "/tmp/clinic-bench")),
                        help="corpora, indexes and logs [default: BENCH_WORK or /tmp/clinic-bench]")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to measure [default: this one]")
    parser.add_argument("--reuse", action="store_true", help="measure an index already built in WORK instead of building")
    parser.add_argument("--out", type=Path, help="write the figures as JSON, after each size")
    parser.add_argument("--label", help="the run's name in the JSON [default: CODE's short commit, -dirty if changed]")
    parser.add_argument("--sustain", type=float, default=60, help="seconds of sustained load at 10 clients [default: 60]")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE.json", "AFTER.json"),
                        help="print the figures of two runs side by side, with after/before ratios")
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return

    sizes = args.sizes.split(",")
    unknown = set(sizes) - set(SIZES)
    if unknown:
        parser.error(f"unknown sizes {', '.join(sorted(unknown))}; choose from {','.join(SIZES)}")
    code, work = args.code.resolve(), args.work.resolve()
    sys.path.insert(0, str(code))  # in-process measurements import CODE's assistant package
    work.mkdir(parents=True, exist_ok=True)
    run = {"label": args.label or git_label(code), "code": str(code), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "cpus": os.cpu_count(), "python": platform.python_version(), "sustain_seconds": args.sustain, "sizes": {}}
    for size in [s for s in SIZES if s in sizes]:
        run["sizes"][size] = measure(size, code, work, reuse=args.reuse, sustain=args.sustain)
        print_summary(size, run["sizes"][size])
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(run, indent=1), encoding="utf-8")
    print_table(run)


if __name__ == "__main__":
    main()

"""`clinic-assistant eval`: how well the real pipeline finds judged answers, and how fast.

A dataset folder holds
    docs.jsonl     {"id", "title", "text", "url"} per line: the documents to index
    queries.jsonl  {"id", "text"} per line: the questions
    qrels.tsv      a header line, then "query_id  doc_id  relevance" (tab or space separated)
    meta.json      optional; "binary_min_rel": a document is relevant at this grade or above (1)

The documents are chunked, embedded and stored by `build.build_documents` into a temporary
index, and every question goes through `Assistant.respond`, as a patient's would.

The text of docs.jsonl is *not* put through documents/clean.py: it is already the article, while the
cleaner's rules are for saved web pages and read some article text as page furniture. On the
dev sets they would drop 8% of the text of medquad_cancergov and 20% of mediqa_qa, emptying 330
of its 2,397 answer passages (short lists look like menus, first-person sentences like reader
comments). Measuring with them would measure the cleaner on text it was not made for.

Metrics are per document: a passage counts for its document, and documents are ranked by
their best passage. R@k = share of a question's relevant documents in the top k; MRR@10 = 1 /
rank of the first relevant one; nDCG@10 uses the judged grade as gain (trec_eval's ndcg_cut),
so on graded sets a "related" answer (grade 1) counts a little and an "excellent" one (3)
most. All are averaged over questions with at least one relevant document.

Entry point: `evaluate(dataset_dir, settings, out_of_scope=None) -> dict` (keys as printed).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .types import Document

CUTOFFS = (1, 5, 10)
# Documents ranked per question: nDCG@10 and MRR@10 look at 10, so a few more passages than
# that are searched (several passages of one document collapse into one rank).
RANKED_PASSAGES = 100


class DatasetError(ValueError):
    """The dataset folder is missing a file or has a malformed line; the message names it."""


@dataclass(frozen=True)
class Dataset:
    documents: list[Document]
    queries: list[tuple[str, str]]  # (id, text)
    grades: dict[str, dict[str, int]]  # query id -> doc id -> judged grade
    min_relevant: int


def load_dataset(folder: Path) -> Dataset:
    for name in ("docs.jsonl", "queries.jsonl", "qrels.tsv"):
        if not (folder / name).is_file():
            raise DatasetError(f"No {name} in {folder}/. A dataset needs docs.jsonl, queries.jsonl and qrels.tsv.")
    documents = [
        Document(id=str(record["id"]), title=str(record.get("title") or ""), text=str(record["text"]),
                 url=record.get("url") or None,
                 content_hash=hashlib.sha256(str(record["text"]).encode("utf-8")).hexdigest())
        for record in _jsonl(folder / "docs.jsonl", ("id", "text"))
    ]
    queries = [(str(r["id"]), str(r["text"])) for r in _jsonl(folder / "queries.jsonl", ("id", "text"))]
    grades: dict[str, dict[str, int]] = {}
    lines = (folder / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        try:
            query_id, doc_id, grade = fields[0], fields[1], int(fields[2])
        except (IndexError, ValueError):
            raise DatasetError(f"qrels.tsv line {number} is not 'query_id doc_id relevance': {line!r}") from None
        grades.setdefault(query_id, {})[doc_id] = grade
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return Dataset(documents, queries, grades, int(meta.get("binary_min_rel", 1)))


def _jsonl(path: Path, required: tuple[str, ...]) -> Iterable[dict]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise DatasetError(f"{path.name} line {number} is not JSON.") from None
            if not isinstance(record, dict) or any(key not in record for key in required):
                raise DatasetError(f"{path.name} line {number} lacks one of {', '.join(required)}.")
            yield record


def ranking_metrics(rankings: dict[str, list[str]], grades: dict[str, dict[str, int]], min_relevant: int) -> dict:
    """R@1/5/10, MRR@10 and nDCG@10 of document rankings against judged grades (see module doc)."""
    totals = dict.fromkeys([*(f"R@{k}" for k in CUTOFFS), "MRR@10", "nDCG@10"], 0.0)
    counted = 0
    for query_id, judged in grades.items():
        relevant = {doc for doc, grade in judged.items() if grade >= min_relevant}
        if not relevant or query_id not in rankings:
            continue
        counted += 1
        top = rankings[query_id][:10]
        for k in CUTOFFS:
            totals[f"R@{k}"] += len(relevant & set(top[:k])) / len(relevant)
        first = next((rank for rank, doc in enumerate(top, start=1) if doc in relevant), None)
        totals["MRR@10"] += 1 / first if first else 0.0
        dcg = sum(max(judged.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(top, start=1))
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
        totals["nDCG@10"] += dcg / sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return {name: round(value / counted, 4) if counted else 0.0 for name, value in totals.items()}


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `share` of values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


def evaluate(dataset_dir: Path, settings: Settings, *, out_of_scope: Path | None = None, embedder=None,
             progress=lambda message: None) -> dict:
    """Index the dataset in a temporary folder, ask every question, return the figures."""
    from assistant.index.embed import Embedder
    from assistant.lifecycle.build import build_documents

    from .answer import Assistant

    dataset = load_dataset(dataset_dir)
    off_topic = _off_topic_questions(out_of_scope) if out_of_scope else []
    if embedder is None:
        embedder = Embedder(settings.resolved_model_path, threads=settings.query_threads)
    with tempfile.TemporaryDirectory(prefix="clinic-eval-") as scratch:
        index_settings = settings.with_(index_dir=Path(scratch) / "index")
        progress(f"Indexing {len(dataset.documents)} documents ...")
        report = build_documents(dataset.documents, index_settings, embedder=embedder)
        progress(f"Indexed {len(dataset.documents)} documents as {report.chunks} passages in {report.seconds:.0f} s; "
                 f"asking {len(dataset.queries)} questions ...")
        assistant = Assistant.load(index_settings, embedder=embedder)

        rankings: dict[str, list[str]] = {}
        latencies: list[float] = []
        abstained: dict[str, bool] = {}
        for query_id, text in dataset.queries:
            started = time.perf_counter()
            answer, hits = assistant.respond(text, depth=RANKED_PASSAGES)
            latencies.append((time.perf_counter() - started) * 1000)
            rankings[query_id] = list(dict.fromkeys(hit.chunk.doc_id for hit in hits))
            abstained[query_id] = answer.abstained
        figures = ranking_metrics(rankings, dataset.grades, dataset.min_relevant)
        figures["p50 ms"] = round(_percentile(latencies, 0.50), 1)
        figures["p95 ms"] = round(_percentile(latencies, 0.95), 1)
        in_scope = relevant_questions(dataset)
        figures["questions"] = len(in_scope)
        figures["passages"] = report.chunks
        if out_of_scope:
            figures["off-topic abstained"] = round(
                sum(assistant.ask(text).abstained for text in off_topic) / max(len(off_topic), 1), 4)
            figures["in-scope abstained"] = round(sum(abstained[q] for q in in_scope) / max(len(in_scope), 1), 4)
    return figures


def relevant_questions(dataset: Dataset) -> list[str]:
    """Ids of the questions that have a relevant document: the ones the metrics average over."""
    asked = {query_id for query_id, _ in dataset.queries}
    return [q for q, judged in dataset.grades.items()
            if q in asked and any(g >= dataset.min_relevant for g in judged.values())]


def _off_topic_questions(path: Path) -> list[str]:
    """{"text"} per line: questions the documents cannot answer."""
    if not path.is_file():
        raise DatasetError(f"No off-topic question file at {path}.")
    return [str(record["text"]) for record in _jsonl(path, ("text",))]


def format_figures(name: str, figures: dict) -> str:
    """The figures as the command prints them: one 'key  value' line each, keys as in --out."""
    lines = [f"{name}: {figures['questions']} questions, {figures['passages']} passages"]
    for key, value in figures.items():
        if key in ("questions", "passages"):
            continue
        shown = f"{value:.1f}" if key.endswith("ms") else f"{value:.3f}"
        lines.append(f"  {key:<20} {shown}")
    return "\n".join(lines)

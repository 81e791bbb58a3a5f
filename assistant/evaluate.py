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

Seed questions, the other format (`shared/eval/dev/seeds_qa/`): a JSONL of patient questions
about a corpus folder, each with `evidence` strings (a right passage contains one) and `answer`
strings (the sentence that answers contains one), optional earlier `history`, and a `kind`
("abstain" for a question the documents do not answer). `evaluate_questions` builds a temporary
index of the corpus folder with the full `build` pipeline (cleaning included: these are the
clinic's own saved pages), asks every question with its history as the chat would, and counts

    top-1 / top-3          answerable questions whose first / any of the top 3 passages shown
                           holds an evidence string
    highlight              of the questions whose top 3 holds an evidence string, the share
                           whose bold sentence in a passage that holds one contains an answer
                           string (the issue's "where the passage is right")
    abstain declined       questions to decline that got no passage
    wrongly declined       answerable questions that got no passage (a count and a share)

Strings are compared after folding case, curly quotes and runs of whitespace (non-breaking
spaces included).

Entry points: `evaluate(dataset_dir, settings, out_of_scope=None) -> dict` (keys as printed),
`evaluate_questions(questions_file, corpus_dir, settings) -> dict`.
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
    from assistant.index.embed import load_embedder
    from assistant.lifecycle.build import build_documents

    from .answer import Assistant

    dataset = load_dataset(dataset_dir)
    off_topic = _off_topic_questions(out_of_scope) if out_of_scope else []
    if embedder is None:
        embedder = load_embedder(settings)
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


# --- seed questions: evidence and answer strings against a corpus folder --------------------

QUESTION_KINDS = ("single", "lay", "followup", "abstain", "urgent")


@dataclass(frozen=True)
class SeedQuestion:
    id: str
    kind: str  # one of QUESTION_KINDS; "abstain": the documents do not answer it
    question: str
    history: tuple[str, ...]  # earlier user messages, oldest first
    evidence: tuple[str, ...]  # a right passage contains one of these
    answer: tuple[str, ...]  # the sentence that answers contains one of these

    @property
    def answerable(self) -> bool:
        return self.kind not in ("abstain", "urgent")


@dataclass(frozen=True)
class QuestionOutcome:
    """What the assistant showed for one seed question, judged against its strings."""

    case: SeedQuestion
    query: str
    declined: bool
    evidence_rank: int | None  # 1-based rank of the first shown passage holding evidence
    highlight_holds_answer: bool  # a passage holding evidence has an answer string in bold
    highlights: tuple[str, ...]  # the bold sentence of each shown passage

    @property
    def passed(self) -> bool:
        if not self.case.answerable:
            return self.declined
        return self.evidence_rank is not None and self.evidence_rank <= 3 and self.highlight_holds_answer


def load_questions(path: Path) -> list[SeedQuestion]:
    """The seed questions of a JSONL file (or of `questions.jsonl` in a folder)."""
    if path.is_dir():
        path = path / "questions.jsonl"
    if not path.is_file():
        raise DatasetError(f"No seed-question file at {path}.")
    cases = []
    for number, record in enumerate(_jsonl(path, ("id", "question")), start=1):
        kind = str(record.get("kind") or "single")
        if kind not in QUESTION_KINDS:
            raise DatasetError(f"{path.name}: question {record['id']} has the kind {kind!r}; use one of "
                               f"{', '.join(QUESTION_KINDS)}.")
        case = SeedQuestion(id=str(record["id"]), kind=kind, question=str(record["question"]),
                            history=tuple(map(str, record.get("history") or ())),
                            evidence=tuple(map(str, record.get("evidence") or ())),
                            answer=tuple(map(str, record.get("answer") or ())))
        if case.answerable and not case.evidence:
            raise DatasetError(f"{path.name}: question {case.id} has no evidence strings; give the words a right "
                               "passage contains, or make its kind \"abstain\".")
        cases.append(case)
    return cases


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def fold(text: str) -> str:
    """Text as compared with evidence and answer strings: one space for any run of whitespace
    (non-breaking spaces too), lower case, straight quotes."""
    return " ".join(text.translate(_QUOTES).lower().split())


def judge(case: SeedQuestion, answer) -> QuestionOutcome:
    """Compare an Answer with a seed question's evidence and answer strings."""
    evidence = [fold(e) for e in case.evidence]
    answers = [fold(a) for a in case.answer]
    rank = None
    holds = False
    for passage in answer.passages:
        if not any(e in fold(passage.text) for e in evidence):
            continue
        rank = rank or passage.number
        if passage.highlight and any(a in fold(passage.highlight) for a in answers):
            holds = True
    return QuestionOutcome(case=case, query=answer.query, declined=answer.abstained, evidence_rank=rank,
                           highlight_holds_answer=holds,
                           highlights=tuple(p.highlight or "" for p in answer.passages))


def ask_with_history(assistant, case: SeedQuestion):
    """Ask the case as the chat would: each earlier message, then the assistant's reply to it."""
    from .render import render_markdown

    history: list[dict] = []
    for message in case.history:
        reply = assistant.ask(message, history)
        history += [{"role": "user", "content": message}, {"role": "assistant", "content": render_markdown(reply)}]
    return assistant.ask(case.question, history)


def question_figures(outcomes: list[QuestionOutcome]) -> dict:
    """The shares `clinic-assistant eval` prints for seed questions (see the module docstring)."""
    answerable = [o for o in outcomes if o.case.answerable]
    to_decline = [o for o in outcomes if not o.case.answerable]
    found = [o for o in answerable if o.evidence_rank is not None and o.evidence_rank <= 3]

    def share(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "top-1": share(sum(o.evidence_rank == 1 for o in answerable), len(answerable)),
        "top-3": share(len(found), len(answerable)),
        "highlight holds answer": share(sum(o.highlight_holds_answer for o in found), len(found)),
        "abstain declined": share(sum(o.declined for o in to_decline), len(to_decline)),
        "wrongly declined": share(sum(o.declined for o in answerable), len(answerable)),
        "wrongly declined count": sum(o.declined for o in answerable),
    }


def evaluate_questions(questions_file: Path, corpus_dir: Path, settings: Settings, *,
                       out_of_scope: Path | None = None, embedder=None,
                       progress=lambda message: None) -> tuple[dict, list[QuestionOutcome]]:
    """Index `corpus_dir` in a temporary folder, ask every seed question; the figures and each
    outcome. `out_of_scope`: off-topic questions ({"text"} per line) asked too."""
    from assistant.index.embed import load_embedder
    from assistant.lifecycle.build import build_index

    from .answer import Assistant

    cases = load_questions(questions_file)
    off_topic = _off_topic_questions(out_of_scope) if out_of_scope else []
    if not corpus_dir.is_dir():
        raise DatasetError(f"No corpus folder at {corpus_dir}/. Give the folder the questions are about with --corpus.")
    if embedder is None:
        embedder = load_embedder(settings)
    with tempfile.TemporaryDirectory(prefix="clinic-eval-") as scratch:
        index_settings = settings.with_(corpus_dir=corpus_dir, index_dir=Path(scratch) / "index")
        progress(f"Indexing {corpus_dir}/ ...")
        report = build_index(index_settings, embedder=embedder)
        progress(f"Indexed {len(report.documents)} documents as {report.chunks} passages; "
                 f"asking {len(cases)} questions ...")
        assistant = Assistant.load(index_settings, embedder=embedder)
        latencies = []
        outcomes = []
        for case in cases:
            started = time.perf_counter()
            outcomes.append(judge(case, ask_with_history(assistant, case)))
            latencies.append((time.perf_counter() - started) * 1000)
        declined_off_topic = sum(assistant.ask(text).abstained for text in off_topic)
        assistant.retriever.index.lexical.close()
    figures = question_figures(outcomes)
    if out_of_scope:
        figures["off-topic abstained"] = round(declined_off_topic / max(len(off_topic), 1), 4)
    figures["passages"] = report.chunks
    figures["p50 ms"] = round(_percentile(latencies, 0.50), 1)
    return figures, outcomes


def format_outcome(outcome: QuestionOutcome) -> str:
    """One failed seed question, for `eval --show`: what was searched, found and bolded."""
    case = outcome.case
    if not case.answerable:
        why = "answered, should be declined"
    elif outcome.declined:
        why = "declined"
    elif outcome.evidence_rank is None or outcome.evidence_rank > 3:
        why = "no passage with the evidence in the top 3"
    else:
        why = f"evidence at rank {outcome.evidence_rank}, the bold sentence misses the answer"
    lines = [f"{case.id} [{case.kind}] {why}: {case.question!r}"]
    if outcome.query != case.question:
        lines.append(f"    searched for: {outcome.query!r}")
    lines += [f"    bold {i}: {h[:160]!r}" for i, h in enumerate(outcome.highlights, start=1)]
    return "\n".join(lines)


def format_figures(name: str, figures: dict) -> str:
    """The figures as the command prints them: one 'key  value' line each, keys as in --out."""
    lines = [f"{name}: {figures['questions']} questions, {figures['passages']} passages"]
    for key, value in figures.items():
        if key in ("questions", "passages"):
            continue
        shown = str(value) if isinstance(value, int) else f"{value:.1f}" if key.endswith("ms") else f"{value:.3f}"
        lines.append(f"  {key:<24} {shown}")
    return "\n".join(lines)

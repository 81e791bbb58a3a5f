"""`clinic-assistant eval`: the metrics by hand, and the whole command on a small judged dataset."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.evaluate import ranking_metrics


def test_the_metrics_match_a_worked_example():
    rankings = {"q1": ["a", "b", "c"], "q2": ["x", "y", "z"], "unjudged": ["a"]}
    grades = {"q1": {"b": 2}, "q2": {"z": 2, "x": 1, "w": 3}, "no-relevant": {"a": 1}}
    figures = ranking_metrics(rankings, grades, min_relevant=2)
    # q1: its one relevant document at rank 2. q2: relevant (grade >= 2) are z and w; z at rank 3,
    # w not found; x (grade 1) is not relevant but still earns nDCG gain.
    assert figures["R@1"] == 0.0
    assert figures["R@5"] == figures["R@10"] == pytest.approx((1 + 1 / 2) / 2)
    assert figures["MRR@10"] == pytest.approx((1 / 2 + 1 / 3) / 2, abs=1e-4)
    q1 = 2 / 1.5849625  # gain 2 at rank 2, over the ideal gain 2 at rank 1
    q2 = (1 / 1 + 2 / 2) / (3 / 1 + 2 / 1.5849625 + 1 / 2)  # x at rank 1, z at rank 3; ideal 3, 2, 1
    assert figures["nDCG@10"] == pytest.approx((q1 / 2 + q2) / 2, abs=1e-4)


DOCS = [
    {"id": "liver", "title": "Liver metastases", "url": "https://example.org/liver",
     "text": "Cancer that spreads to the liver can block the bile ducts. Bilirubin then builds up in the "
             "blood and the skin and the whites of the eyes turn yellow, which is called jaundice."},
    {"id": "bones", "title": "", "url": "",  # a document without a title is fine too
     "text": "Bisphosphonates such as zoledronic acid slow the breakdown of bone. They lower the risk of "
             "fractures and ease bone pain.\n\nRadiotherapy to a painful bone often relieves the pain "
             "within a few weeks."},
    {"id": "brain", "title": "Brain metastases",
     "text": "Steroids such as dexamethasone reduce swelling around tumours in the brain. Headaches that "
             "are worse in the morning can be a sign of this swelling."},
    {"id": "lungs", "title": "Lung metastases",
     "text": "Fluid can collect between the lung and the chest wall. Breathlessness is the most common "
             "sign, and draining the fluid with a needle eases breathing quickly."},
]
QUERIES = [("q1", "Why might eyes turn yellow?"), ("q2", "Which medicine reduces brain swelling?"),
           ("q3", "getting out of breath"), ("q4", "pills that make weak bones sturdier")]
QRELS = [("q1", "liver", 2), ("q2", "brain", 2), ("q3", "lungs", 1), ("q3", "brain", 0), ("q4", "bones", 2)]


@pytest.fixture()
def dataset(tmp_path):
    folder = tmp_path / "small_set"
    folder.mkdir()
    (folder / "docs.jsonl").write_text("\n".join(json.dumps(d) for d in DOCS) + "\n")
    (folder / "queries.jsonl").write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in QUERIES) + "\n")
    (folder / "qrels.tsv").write_text("query_id\tdoc_id\trelevance\n" + "".join(f"{q}\t{d}\t{r}\n" for q, d, r in QRELS))
    (folder / "meta.json").write_text(json.dumps({"binary_min_rel": 1}))
    off_topic = tmp_path / "off_topic.jsonl"
    off_topic.write_text('{"id": "o1", "text": "What is the capital of Australia?"}\n'
                         '{"id": "o2", "text": "How often should I change the oil in my car?"}\n')
    return folder, off_topic


def test_eval_prints_and_writes_the_figures(dataset, tmp_path):
    folder, off_topic = dataset
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(main, ["eval", str(folder), "--out", str(out), "--out-of-scope", str(off_topic)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in ["R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "p50 ms", "p95 ms", "off-topic abstained",
                "in-scope abstained"]:
        assert key in figures and key in result.output
    assert figures["dataset"] == "small_set" and figures["questions"] == 4
    # Each question shares almost no words with its answer: the model has to understand it.
    assert figures["R@1"] == 1.0 and figures["MRR@10"] == 1.0
    assert figures["off-topic abstained"] == 1.0 and figures["in-scope abstained"] == 0.0
    assert 0 < figures["p50 ms"] <= figures["p95 ms"]


def test_a_dataset_without_any_title_is_measured(dataset, tmp_path):
    # mediqa_qa has no titles: a corpus with no title vector at all once failed every question.
    folder, _ = dataset
    (folder / "docs.jsonl").write_text("\n".join(json.dumps({**d, "title": ""}) for d in DOCS) + "\n")
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(main, ["eval", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["R@1"] == 1.0


def test_a_dataset_with_a_missing_file_gets_one_sentence(dataset):
    folder, _ = dataset
    (folder / "qrels.tsv").unlink()
    result = CliRunner().invoke(main, ["eval", str(folder)])
    assert result.exit_code == 1
    assert "No qrels.tsv in" in result.output and "Traceback" not in result.output


def test_a_malformed_line_is_named(dataset):
    folder, _ = dataset
    (folder / "queries.jsonl").write_text('{"id": "q1", "text": "fine"}\nnot json\n')
    result = CliRunner().invoke(main, ["eval", str(folder)])
    assert result.exit_code == 1 and "queries.jsonl line 2 is not JSON" in result.output


SEED_QUESTIONS = [
    {"id": "s1", "kind": "single", "history": [], "question": "Why can tumours in the liver turn the skin yellow?",
     "evidence": ["bilirubin builds up in the blood"], "answer": ["jaundice develops"]},
    {"id": "s2", "kind": "lay", "history": [], "question": "meds that stop bones breaking??",
     "evidence": ["slow the breakdown of bone"], "answer": ["slow the breakdown of bone"]},
    {"id": "s3", "kind": "followup", "history": ["What are bone metastases?"], "question": "and radiotherapy for them?",
     "evidence": ["radiotherapy relieves aching"], "answer": ["relieves aching from a single painful deposit"]},
    {"id": "s4", "kind": "abstain", "history": [], "question": "How do I set up voicemail on a new phone?",
     "evidence": [], "answer": []},
]


def test_seed_questions_are_measured_against_a_corpus_folder(tmp_path):
    # The seeds_qa format: evidence strings for the passage, answer strings for the bold sentence.
    from tests.conftest import TINY_CORPUS

    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in SEED_QUESTIONS) + "\n")
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(main, ["eval", str(questions), "--corpus", str(TINY_CORPUS), "--out", str(out),
                                       "--show"])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in ["top-1", "top-3", "highlight holds answer", "abstain declined", "wrongly declined"]:
        assert key in figures and key in result.output
    assert figures["questions"] == 4 and figures["answerable"] == 3
    assert figures["top-3"] == 1.0 and figures["abstain declined"] == 1.0 and figures["wrongly declined"] == 0.0
    assert figures["highlight holds answer"] == 1.0


def test_a_seed_question_without_evidence_is_named(tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "x1", "kind": "single", "question": "What?", "evidence": []}) + "\n")
    result = CliRunner().invoke(main, ["eval", str(questions), "--corpus", str(tmp_path)])
    assert result.exit_code == 1 and "x1 has no evidence strings" in result.output and "Traceback" not in result.output


def test_strings_are_compared_as_the_seed_format_says():
    from assistant.evaluate import fold

    assert fold("The patient’s  “dormant”\u00a0state") == fold("the patient's \"dormant\" state")

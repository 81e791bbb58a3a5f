"""The topic check (assistant/search/scope.py): everyday questions are declined even when a page matches
their words; health questions, and practical ones about the clinic, are not."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.search import scope
from assistant.search.scope import (
    ExamplesError,
    TopicCheck,
    fit_logistic,
    read_examples,
)
from assistant.search.selection import MIN_ANSWER_SCORE
from assistant.texts import NO_ANSWER
from tests.conftest import ROOT, SEED_CORPUS, build_test_index, read_lines

# Two team-written pages beside the seed corpus make it a broad one: a drug page whose words
# match a kitchen question, and the clinic's practical page (parking, appointments).
SCOPE_PAGES = Path(__file__).resolve().parent / "data" / "scope_corpus"
TEAM_SETS = ROOT / "benchmarks" / "scope"


@pytest.fixture(scope="module")
def broad_assistant(tmp_path_factory, embedder) -> Assistant:
    corpus = tmp_path_factory.mktemp("broad-corpus")
    for path in [*SEED_CORPUS.glob("*.txt"), *SCOPE_PAGES.glob("*.md")]:
        shutil.copy(path, corpus)
    settings, _ = build_test_index(tmp_path_factory, "broad", corpus, embedder)
    return Assistant.load(settings, embedder=embedder)


def test_an_everyday_question_is_declined_even_when_a_page_matches_its_words(broad_assistant):
    answer, hits = broad_assistant.respond("What is the difference between baking soda and baking powder?")
    # The passage score alone would have answered with the drug page: the topic check declined.
    assert hits[0].chunk.doc_id == "sodium-bicarbonate.md" and hits[0].score >= MIN_ANSWER_SCORE
    assert answer.abstained and answer.passages == ()
    assert answer.notices == (NO_ANSWER,)


@pytest.mark.parametrize("question, page", [
    ("Can sodium bicarbonate relieve heartburn?", "sodium-bicarbonate.md"),
    ("Can I rinse my mouth with baking soda for mouth sores from chemo?", "sodium-bicarbonate.md"),
    # The practical side of being a patient is the clinic's subject too.
    ("Where do I park when I come for chemotherapy?", "visiting-the-clinic.md"),
    ("How do I cancel my appointment?", "visiting-the-clinic.md"),
    ("Can my husband come with me to my appointments?", "visiting-the-clinic.md"),
])
def test_health_and_practical_questions_are_answered_from_their_page(broad_assistant, question, page):
    answer = broad_assistant.ask(question)
    assert not answer.abstained
    assert answer.passages[0].doc_id == page


def test_no_in_scope_question_of_the_teams_sets_is_called_everyday(seed_assistant, embedder):
    questions = [*read_lines(ROOT / "benchmarks" / "seed_questions.txt"),
                 *read_lines(TEAM_SETS / "tuning_in_scope.txt"), *read_lines(TEAM_SETS / "heldout_in_scope.txt")]
    margins = seed_assistant.topic_check.everyday_margin(embedder.encode(questions))
    assert [q for q, m in zip(questions, margins) if m > 0] == []


def test_the_teams_held_out_off_topic_questions_are_called_everyday(seed_assistant, embedder):
    questions = read_lines(TEAM_SETS / "heldout_off_topic.txt")
    called = [seed_assistant.topic_check.is_everyday(v) for v in embedder.encode(questions)]
    assert np.mean(called) >= 0.95  # issue 3's target for off-topic questions


def test_stored_weights_were_learnt_from_the_examples_as_they_are(embedder):
    stored = scope.read_weights()
    assert stored is not None, "run: python -m assistant.search.scope"
    assert stored["examples"] == scope.examples_hash(), "scope_examples.txt changed: run python -m assistant.search.scope"
    assert stored["model"] == Settings().model_name
    weights, bias = scope.learn(embedder)
    assert np.allclose(stored["weights"], weights, atol=1e-3) and abs(stored["bias"] - bias) < 1e-3


def test_changed_examples_are_learnt_at_start_up(tmp_path, embedder):
    examples = tmp_path / "examples.txt"
    examples.write_text(scope.EXAMPLES.read_text(encoding="utf-8") + "How do I tune a piano?\n", encoding="utf-8")
    stored = TopicCheck.load(embedder, Settings().model_name)
    relearnt = TopicCheck.load(embedder, Settings().model_name, examples=examples)
    assert not np.array_equal(relearnt.weights, stored.weights)
    assert relearnt.is_everyday(embedder.encode_query("How do I tune a guitar?"))
    assert not relearnt.is_everyday(embedder.encode_query("Where does breast cancer spread?"))


def test_the_regression_reaches_its_optimum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = (x[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(float)
    w, b = fit_logistic(x, y, c=1.0)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    # The gradient of |w|^2 / 2 + sum(log loss) is zero at the optimum (the intercept unpenalised).
    assert np.allclose(x.T @ (p - y) + w, 0, atol=1e-6) and abs((p - y).sum()) < 1e-6
    assert w[0] > 1 and np.abs(w[1:]).max() < w[0] / 2


@pytest.mark.parametrize("text, message", [
    ("How do I bake bread?\n[everyday]\nHow do I fix my car?\n", "put the question under [health] or [everyday]"),
    ("[health]\nWhat is chemo?\n[sport]\nWho won?\n", "unknown section [sport]"),
    ("[health]\nWhat is chemo?\n", "both [health] and [everyday] need examples"),
])
def test_a_malformed_examples_file_names_the_problem(tmp_path, text, message):
    path = tmp_path / "examples.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExamplesError, match=re.escape(message)):
        read_examples(path)


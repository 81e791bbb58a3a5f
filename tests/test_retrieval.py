"""Hybrid search, highlights, no repeats and abstention, on the seed corpus with the real model."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from assistant.index.lexical import (
    LAY_SHORTHAND,
    TITLE_WEIGHT,
    TOKENIZER,
    LexicalIndex,
    query_terms,
    write_lexical_index,
)
from assistant.index.store import (
    LEXICAL,
    IndexNotReady,
    current_build,
    load_index,
    publish,
)
from assistant.render import render_markdown
from assistant.search.selection import choose_passages
from assistant.texts import NO_ANSWER


def test_an_exact_drug_name_is_found_by_the_keyword_index(seed_assistant):
    # "Pamidronate" stands once in the corpus, in a list under "Bisphosphonates containing nitrogen".
    hits = seed_assistant.retriever.search("pamidronate", 3)
    assert "Pamidronate" in hits[0].chunk.text
    assert hits[0].lexical_rank == 1 and hits[0].lexical_share > 0


def test_keyword_matching_is_stemmed(seed_settings):
    lexical = LexicalIndex(current_build(seed_settings.index_dir) / LEXICAL)
    singular = lexical.search("bisphosphonate bone", 5)
    plural = lexical.search("bisphosphonates bones", 5)
    assert singular and singular == plural
    assert query_terms("Where does breast cancer usually spread?") == ["breast", "cancer", "spread"]


def test_keyword_scores_are_fts5s_own_bm25(seed_assistant, tmp_path):
    # The reference: an FTS5 table of the same passages, asked with its bm25() function, as the
    # keyword search did before it read postings (assistant/index/lexical.py).
    chunks = seed_assistant.retriever.index.chunks
    lexical = seed_assistant.retriever.index.lexical
    reference = sqlite3.connect(":memory:")
    reference.execute(f"CREATE VIRTUAL TABLE passages USING fts5(title, body, tokenize='{TOKENIZER}')")
    reference.executemany("INSERT INTO passages(rowid, title, body) VALUES (?, ?, ?)",
                          ((row, f"{c.title}\n{c.section}" if c.section and c.section != c.title else c.title, c.text)
                           for row, c in enumerate(chunks)))
    questions = ["Where does breast cancer usually spread?", "bisphosphonates for bone metastases",
                 "Is métastase the same as metastasis?", "how do doctors find out about liver mets",
                 "pamidronate zoledronic acid", "x_ray of the lungs", "nothing like zzzqqq"]
    for question in questions:
        # Shorthand the pages never write is read as the word it stands for ("mets" -> metastases).
        terms = [LAY_SHORTHAND.get(t, t) for t in query_terms(question)]
        expected = reference.execute(
            f"SELECT rowid, -bm25(passages, {TITLE_WEIGHT}, 1.0) FROM passages WHERE passages MATCH ? "
            "ORDER BY bm25(passages, {TITLE_WEIGHT}, 1.0), rowid LIMIT 20".replace("{TITLE_WEIGHT}", str(TITLE_WEIGHT)),
            (" OR ".join(f'"{t}"' for t in terms),)).fetchall()
        found = lexical.search(question, 20)
        assert [row for row, _ in found] == [row for row, _ in expected], question
        shares = [share for _, share in found]
        ratios = {round(score / share, 6) for (_, score), share in zip(expected, shares)}
        assert len(ratios) <= 1, question  # the same scores, up to the query's ceiling
    # The index file is the postings only; FTS5's table was a scratch file of the build.
    write_lexical_index(tmp_path / "lexical.npz", chunks)
    assert [p.name for p in tmp_path.iterdir()] == ["lexical.npz"]


def test_lay_wording_and_typos_still_find_the_answer(seed_assistant):
    answer = seed_assistant.ask("can cancer spred to the brain")
    assert not answer.abstained
    assert "brain" in answer.passages[0].highlight.lower()
    answer = seed_assistant.ask("my mom has cancer in her bones what meds help")
    assert not answer.abstained
    assert any("isphosphonate" in p.text for p in answer.passages)


def test_the_breast_cancer_list_is_among_the_first_three(seed_assistant):
    answer = seed_assistant.ask("Where does breast cancer usually spread?")
    listing = [p for p in answer.passages if "• Breast cancer - lungs, liver, bones" in p.text]
    assert listing and listing[0].doc_id == "002_7ac96f45a423b3fe.txt"


def test_each_passage_highlights_the_sentence_that_answers_in_bold(seed_assistant):
    answer = seed_assistant.ask("What are the symptoms of bone metastases?")
    assert len(answer.passages) == 3
    for passage in answer.passages:
        assert passage.highlight and passage.highlight in passage.text
        assert passage.highlight != passage.text  # one sentence, not the whole passage
    assert any(word in answer.passages[0].highlight.lower() for word in ("pain", "hypercalcemia", "fracture"))
    markdown = render_markdown(answer).replace("\\", "")
    assert f"**{answer.passages[0].highlight.strip()}**" in markdown


def test_a_highlight_answers_the_question_not_just_the_topic(seed_assistant):
    answer = seed_assistant.ask("Which bisphosphonates contain no nitrogen?")
    top = answer.passages[0]
    assert "Nitrogen-free bisphosphonates" in top.text
    assert "nitrogen" in top.highlight.lower()


def test_a_section_the_page_repeats_in_other_words_is_shown_once(seed_assistant):
    # Page 002 says the same things under "Why are metastases dangerous?" and, further down,
    # under "What is the danger of metastases?", reworded. Put the two side by side at the top
    # of a real result list: only the first is shown, and the room goes to passages that add
    # something.
    hits = seed_assistant.retriever.search("Do metastases affect vital organs?", 10)
    original = next(h for h in hits if h.chunk.text.startswith("Why are metastases dangerous?"))
    reworded = next(h for h in hits if h.chunk.text.startswith("What is the danger of metastases?"))
    others = [h for h in hits if h not in (original, reworded)]
    shown = choose_passages([original, reworded, *others], seed_assistant.retriever, 3)
    assert shown[0] is original and reworded not in shown
    assert len(shown) == 3


def test_shown_passages_never_repeat_a_key_sentence(seed_assistant):
    for question in ["What are metastases?", "How quickly do metastases spread?", "How are metastases found?",
                     "Can metastases be cured?", "What medicines help with bone metastases?"]:
        highlights = [p.highlight for p in seed_assistant.ask(question).passages]
        assert len(highlights) == len(set(highlights)), question


@pytest.mark.parametrize("question", [
    "How do I treat a sunburn?",
    "What is the right ibuprofen dose for my 6 year old?",
    "Who won the football match last night?",
    "How do I replace the brake pads on my car?",
    "What is the capital of Australia?",
    # Everyday questions, declined by the topic check too (assistant/search/scope.py)
    "How should I train for my first half marathon?",
    "What is the best way to get rid of mold on a bathroom ceiling?",
    "Do I need a visa to visit Japan?",
    "Why is my laptop battery draining so fast?",
])
def test_questions_the_documents_cannot_answer_get_an_honest_no(seed_assistant, question):
    answer = seed_assistant.ask(question)
    assert answer.abstained and answer.passages == ()
    assert answer.notices == (NO_ANSWER,)
    markdown = render_markdown(answer)
    assert "will not guess" in markdown and "care team" in markdown


@pytest.mark.parametrize("question", [
    "Where does breast cancer usually spread?",
    "What are the symptoms of bone metastases?",
    "How are metastases found?",
    "Can metastases be treated?",
    "how long do people live with bone mets",
    "why do tumors spread through the blood",
])
def test_questions_the_documents_answer_are_not_declined(seed_assistant, question):
    assert not seed_assistant.ask(question).abstained


def test_the_keyword_index_is_part_of_the_published_build(seed_settings, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(seed_settings.index_dir, copy, symlinks=True)
    build = current_build(copy)
    assert (build / LEXICAL).is_file()
    (build / LEXICAL).write_bytes(b"not a database")
    with pytest.raises(IndexNotReady, match="damaged.*clinic-assistant build"):
        load_index(copy, model_name=seed_settings.model_name)
    staging = build.parent / ".tmp-incomplete"
    shutil.copytree(build, staging)
    (staging / LEXICAL).unlink()
    with pytest.raises(RuntimeError, match="lexical.npz is missing"):
        publish(copy, staging)

"""The bold sentence is the one that answers, not the one that repeats the question."""

from __future__ import annotations

import pytest

from assistant.search import highlight
from assistant.search.highlight import answering_sentence, cannot_answer


@pytest.fixture(scope="module")
def lexical(seed_assistant):
    return seed_assistant.retriever.index.lexical


@pytest.mark.parametrize("sentence, question", [
    ("Is it possible to cure metastases?", "Can metastases be cured?"),  # question-shaped
    ("Bisphosphonates containing nitrogen:", "Are bisphosphonates with nitrogen better than the ones without?"),
    ("To check for metastases, there are a number of diagnostic procedures available:", "Will an X-ray show them?"),
    ("Bone metastases are treated.", "How are bone metastases treated?"),  # every content word is the question's
])
def test_questions_labels_and_echoes_cannot_answer(sentence, question, lexical):
    assert cannot_answer(sentence, lexical.stems(question), lexical)


@pytest.mark.parametrize("sentence, question", [
    ("• X-ray - allows you to identify the nature of the lesion, noticeable only in the later stages;",
     "Will a normal X-ray show bone metastases early on?"),
    ("Medicines containing nitrogenous compounds have greater therapeutic effect than bisphosphonates without nitrogen.",
     "Are bisphosphonates with nitrogen better than the ones without?"),
])
def test_a_sentence_that_adds_something_can_answer(sentence, question, lexical):
    assert not cannot_answer(sentence, lexical.stems(question), lexical)


def test_the_answering_line_is_bold_not_the_label_above_it(seed_assistant):
    answer = seed_assistant.ask("Are bisphosphonates with nitrogen better than the ones without?")
    holding = [p for p in answer.passages if "greater therapeutic effect" in p.text]
    assert holding and "greater therapeutic effect" in holding[0].highlight
    assert all(not (p.highlight or "").rstrip().endswith((":", "?")) for p in answer.passages)


def test_a_rare_word_of_the_question_outweighs_one_every_passage_has(lexical):
    # "metastases" is in most passages of the seed corpus, "remedies" in few: finding it says more.
    weights = {word: weight for word, (_, weight) in lexical.term_weights("home remedies for bone metastases").items()}
    assert weights["remedies"] > weights["bone"] > weights["metastases"]


def test_the_list_line_naming_the_asked_test_is_bold(seed_assistant):
    # Beside it, "Helps to recognize the presence of metastases ..." is nearer in meaning; the
    # line that names the blood test answers.
    answer = seed_assistant.ask("Can a blood test help to find bone metastases?")
    holding = [p for p in answer.passages if "Biochemical blood test" in p.text]
    assert holding and "Biochemical blood test" in holding[0].highlight


def test_a_follow_up_bolds_by_the_patients_own_words(seed_assistant, embedder):
    # The carried subject (the spine pressing on the cord) is in every sentence of the passage;
    # "already paralysed" is what picks the sentence about getting movement back.
    history = [{"role": "user", "content": "What happens when spine metastases press on the spinal cord?"},
               {"role": "assistant", "content": "..."}]
    message = "when a person is paralysed from it already, can they move again?"
    answer = seed_assistant.ask(message, history)
    assert answer.query != message
    holding = [p for p in answer.passages if "restore motor function" in p.text]
    assert holding and "restore motor function" in holding[0].highlight


def test_the_sentence_saying_why_is_bold(seed_assistant):
    answer = seed_assistant.ask("How does cancer in the spine lead to anaemia?")
    holding = [p for p in answer.passages if "blood production" in p.text]
    assert holding and "where blood production for the body takes place" in holding[0].highlight


def test_a_sentence_that_goes_on_with_this_is_bold_with_the_one_before(seed_assistant):
    answer = seed_assistant.ask("Why does cancer in the spine cause anaemia?")
    holding = [p for p in answer.passages if "blood production" in p.text]
    assert holding and "cause of the anemia" in holding[0].highlight
    assert "This is particularly the case when" in holding[0].highlight


def test_a_neighbour_within_the_margin_is_bold_with_the_best(seed_assistant, embedder, monkeypatch):
    monkeypatch.setattr(highlight, "PAIR_MARGIN", 1.0)  # every neighbour is within it
    retriever = seed_assistant.retriever
    question = "How does cancer in the spine lead to anaemia?"
    hit = next(h for h in retriever.search(question, 10) if "blood production" in h.chunk.text)
    start, end = answering_sentence(question, embedder.encode_query(question), hit, retriever)
    _, spans = retriever.sentences_with_spans(hit)
    covered = [span for span in spans if start <= span[0] and span[1] <= end]
    assert len(covered) == 2 and (covered[0][0], covered[-1][1]) == (start, end)


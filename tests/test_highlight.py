"""The bold sentence is the one that answers, not the one that repeats the question."""

from __future__ import annotations

import pytest

from assistant.search.highlight import _content, cannot_answer


@pytest.mark.parametrize("sentence, question", [
    ("Is it possible to cure metastases?", "Can metastases be cured?"),  # question-shaped
    ("Bisphosphonates containing nitrogen:", "Are bisphosphonates with nitrogen better than the ones without?"),
    ("To check for metastases, there are a number of diagnostic procedures available:", "Will an X-ray show them?"),
    ("Bone metastases are treated.", "How are bone metastases treated?"),  # every content word is the question's
])
def test_questions_labels_and_echoes_cannot_answer(sentence, question):
    assert cannot_answer(sentence, _content(question))


@pytest.mark.parametrize("sentence, question", [
    ("• X-ray - allows you to identify the nature of the lesion, noticeable only in the later stages;",
     "Will a normal X-ray show bone metastases early on?"),
    ("Medicines containing nitrogenous compounds have greater therapeutic effect than bisphosphonates without nitrogen.",
     "Are bisphosphonates with nitrogen better than the ones without?"),
])
def test_a_sentence_that_adds_something_can_answer(sentence, question):
    assert not cannot_answer(sentence, _content(question))


def test_the_answering_line_is_bold_not_the_label_above_it(seed_assistant):
    answer = seed_assistant.ask("Are bisphosphonates with nitrogen better than the ones without?")
    holding = [p for p in answer.passages if "greater therapeutic effect" in p.text]
    assert holding and "greater therapeutic effect" in holding[0].highlight
    assert all(not (p.highlight or "").rstrip().endswith((":", "?")) for p in answer.passages)

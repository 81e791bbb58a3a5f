"""A health question about a subject the documents never name is declined; one that names it in passing is not."""

from __future__ import annotations

import json

from assistant.search.coverage import names_uncovered_topic, term_form, topic_terms
from training.topic_terms import topic_words


def test_british_spellings_and_plurals_meet_the_listed_form():
    assert term_form("Leukaemia") == "leukemia"
    assert term_form("moles") == "mole"
    assert term_form("tumour") == "tumor"


def test_disease_names_are_topic_words_everyday_words_are_not():
    terms = topic_terms()
    assert {"leukemia", "melanoma", "mole"} <= terms
    assert not {"matter", "pick", "adult", "first", "symptom"} & terms


def test_the_list_is_the_share_of_topics_a_word_names(tmp_path):
    pairs = [  # "gout" names the only topic that uses it; "joint" is used by three, names one
        {"focus": "Gout", "question": "What is gout?", "answer": "Gout is pain in a joint."},
        {"focus": "Joint replacement", "question": "What is it?", "answer": "A joint is replaced."},
        {"focus": "Arthritis", "question": "What is arthritis?", "answer": "Arthritis hurts a joint."},
        {"focus": "Bursitis", "question": "What is bursitis?", "answer": "Bursitis swells a joint."},
        {"focus": "Sprains", "question": "What is a sprain?", "answer": "A sprain hurts a joint."},
        {"focus": "Falls", "question": "What about falls?", "answer": "A fall can hurt a joint."},
        {"focus": "Tendons", "question": "What are tendons?", "answer": "Tendons move a joint."},
        {"focus": "Bones", "question": "What are bones?", "answer": "Bones meet at a joint."},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in pairs), encoding="utf-8")
    words = topic_words(path)
    assert "gout" in words and "joint" not in words  # joint names 1 of the 8 topics that use it


def test_a_cancer_the_pages_never_name_is_declined(seed_assistant):
    lexical = seed_assistant.retriever.index.lexical
    assert names_uncovered_topic("What are the first signs of leukaemia?", lexical) == ["leukaemia"]
    answer = seed_assistant.ask("What are the first signs of leukaemia in an adult?")
    assert answer.abstained


def test_a_topic_the_pages_name_is_not_uncovered(seed_assistant):
    lexical = seed_assistant.retriever.index.lexical
    assert names_uncovered_topic("Can melanoma spread to the bones?", lexical) == []


def test_an_uncovered_topic_named_in_passing_does_not_stop_a_good_answer(seed_assistant):
    # "leukaemia" is not in the seed pages, but the rest of the question matches the page on
    # bone metastases and their pain well (0.69).
    question = "I had leukaemia years ago, now I have bone mets, what helps the pain?"
    assert names_uncovered_topic(question, seed_assistant.retriever.index.lexical) == ["leukaemia"]
    answer = seed_assistant.ask(question)
    assert not answer.abstained and any("pain" in p.text for p in answer.passages)

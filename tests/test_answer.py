"""Answers from the real model and index: meaning over words, citations, the disclaimer always."""

from __future__ import annotations

import re

from assistant.render import answer_to_dict, render_markdown
from assistant.texts import DISCLAIMER

STOPWORDS = {"the", "a", "an", "of", "to", "in", "is", "are", "what", "why", "how", "does", "do",
             "can", "my", "someone", "someone's", "s", "it", "and", "or", "when", "for"}


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS}


def test_questions_sharing_no_words_with_the_answer_still_find_it(tiny_assistant):
    cases = {
        "Why might eyes turn yellow?": "liver.txt#0",  # the page says "jaundice", "bilirubin"
        "pills making weak bones sturdier": "bones.md#1",  # "Bisphosphonates ... breakdown of bone"
        "getting out of breath": "lungs.pdf#0",  # "breathlessness"
    }
    for question, expected in cases.items():
        top = tiny_assistant.retriever.search(question, 3)[0]
        assert top.chunk.id == expected, (question, top.chunk.id)
        assert not _content_words(question) & _content_words(top.chunk.text), question


def test_breast_cancer_question_shows_the_list_verbatim_and_cited(seed_assistant):
    answer = seed_assistant.ask("Where does breast cancer usually spread?")
    assert not answer.abstained
    assert 1 <= len(answer.passages) <= 3
    listing = [p for p in answer.passages if "Breast cancer - lungs, liver, bones" in p.text]
    assert listing, [p.text[:80] for p in answer.passages]
    passage = listing[0]
    assert passage.title == "Metastases" and passage.doc_id == "002_7ac96f45a423b3fe.txt"
    source = (seed_assistant.settings.corpus_dir / passage.doc_id).read_text(encoding="utf-8")
    for line in passage.text.split("\n"):
        assert line.lstrip("• ") in source  # quoted verbatim
    markdown = render_markdown(answer)
    assert f"**[{passage.number}] Metastases**" in markdown
    assert markdown.rstrip().endswith(DISCLAIMER)


def test_nothing_found_still_carries_the_disclaimer(seed_assistant):
    answer = seed_assistant.ask("What is the best recipe for pancakes?")
    assert answer.abstained and not answer.passages
    body = answer_to_dict(answer)
    assert body["disclaimer"] == DISCLAIMER and body["answer_markdown"].endswith(DISCLAIMER)
    assert "care team" in body["answer_markdown"]


def test_every_kind_of_answer_carries_the_disclaimer(seed_assistant):
    for message in ["How are metastases found?", "football results", "", "x" * 5000]:
        body = answer_to_dict(seed_assistant.ask(message))
        assert body["disclaimer"] == DISCLAIMER
        assert body["answer_markdown"].endswith(DISCLAIMER)


def test_a_too_long_message_gets_a_polite_refusal(seed_assistant):
    answer = seed_assistant.ask("where does it spread " * 200)
    assert answer.abstained and not answer.passages
    assert "longer than I can search" in render_markdown(answer)


def test_document_markup_is_shown_as_text(tiny_assistant):
    answer = tiny_assistant.ask("lab report portal shows raw code when a page fails to load")
    passage = next(p for p in answer.passages if p.doc_id == "markup.txt")
    assert "<img src=//other.host/x>" in passage.text  # the API returns the text as it is
    markdown = render_markdown(answer)
    assert "<img" not in markdown and "<form" not in markdown and "<script" not in markdown
    assert "&lt;img src=//other.host/x&gt;" in markdown.replace("\\", "")


def test_the_highlight_is_a_sentence_of_the_passage(seed_assistant):
    answer = seed_assistant.ask("What medicines help with bone metastases?")
    for passage in answer.passages:
        assert passage.highlight and passage.highlight in passage.text


def test_numbered_list_items_stay_whole_and_render_as_text():
    from assistant.documents.chunk import sentence_spans
    from assistant.render import escape_text

    text = "Options:\n5. Radiotherapy shrinks deposits. It eases pain.\n6. Surgery removes single deposits."
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert "6. Surgery removes single deposits." in sentences  # not "6." on its own
    assert escape_text("6. Surgery") == "6\\. Surgery"  # not an ordered list in markdown


def test_an_emergency_gets_the_urgent_card_first_and_still_passages(seed_assistant):
    answer = seed_assistant.ask("My dad has bone metastases and suddenly can't feel his legs since this morning")
    assert answer.urgent
    markdown = render_markdown(answer)
    assert markdown.startswith("What you describe may need urgent medical help")
    assert "call your local emergency number" in markdown
    assert markdown.rstrip().endswith(DISCLAIMER)


def test_asking_about_an_emergency_is_information_not_an_alarm(seed_assistant):
    answer = seed_assistant.ask("What are the symptoms of spinal cord compression?")
    assert not answer.urgent and answer.passages


def test_a_personal_treatment_decision_gets_the_care_team_line_and_never_a_dose(seed_assistant):
    from assistant.texts import PERSONAL_DECISION

    answer = seed_assistant.ask("Should I stop my chemo?")
    assert not answer.urgent
    assert PERSONAL_DECISION in answer.notices

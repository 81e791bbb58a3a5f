"""Patients' spellings and shorthand meet the words the pages use, in the keyword search."""

from __future__ import annotations


def test_a_british_spelling_finds_the_american_word(seed_assistant):
    lexical = seed_assistant.retriever.index.lexical
    assert lexical.contains("tumour") and lexical.contains("anaemia")  # the seed pages say tumor, anemia
    assert lexical.term_weights("tumours")["tumours"] == lexical.term_weights("tumors")["tumors"]


def test_shorthand_counts_as_the_word_it_stands_for(seed_assistant):
    lexical = seed_assistant.retriever.index.lexical
    assert lexical.contains("mets") and lexical.contains("chemo")
    # Unread, "mets" would count in the ceiling of the BM25 share at the highest IDF and lower
    # every passage's share; read as "metastases", the shares are those of the spelt-out question.
    assert lexical.search("mets in the adrenal glands", 3) == lexical.search("metastases in the adrenal glands", 3)


def test_a_question_in_shorthand_is_answered(seed_assistant):
    answer = seed_assistant.ask("are mets in the adrenal glands common?")
    assert not answer.abstained and any("adrenal glands" in p.text for p in answer.passages)

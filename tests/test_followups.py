"""Follow-up questions: rebuilt from the conversation without an LLM, searched, and shown."""

from __future__ import annotations

from assistant.render import render_markdown
from assistant.search.followup import standalone_query


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


BREAST = [_user("Where does breast cancer usually spread?"), _assistant("[1] Metastases ... lungs, liver, bones")]


def test_a_new_subject_takes_the_place_of_the_one_it_shares_a_word_with():
    assert standalone_query("and prostate cancer?", BREAST) == "Where does prostate cancer usually spread?"
    assert standalone_query("What about kidney cancer?", BREAST) == "Where does kidney cancer usually spread?"


def test_a_pronoun_is_replaced_by_the_previous_subject():
    assert standalone_query("what symptoms does it cause?", [_user("What are bone metastases?")]) == (
        "what symptoms does bone metastases cause?")
    assert standalone_query("Can it reach the brain?", BREAST) == "Can breast cancer reach the brain?"


def test_a_question_about_an_aspect_only_gets_the_previous_subject():
    assert standalone_query("What are the symptoms?", BREAST) == "What are the symptoms of breast cancer?"
    assert standalone_query("and treatment?", [_user("What are the symptoms of bone metastases?")]) == (
        "treatment of bone metastases?")


def test_a_chain_of_follow_ups_keeps_its_subject():
    history = [*BREAST, _user("and prostate cancer?"), _assistant("...")]
    assert standalone_query("How is it treated?", history) == "How is prostate cancer treated?"


def test_a_question_that_stands_on_its_own_is_searched_as_it_is():
    for message in ["How are metastases found?", "Is it true that chemo causes hair loss?",
                    "my mom has cancer in her bones what meds help", "thanks"]:
        assert standalone_query(message, BREAST) == message
    assert standalone_query("and prostate cancer?", []) == "and prostate cancer?"  # nothing to follow
    assert standalone_query("and prostate cancer?", None) == "and prostate cancer?"


def test_odd_history_entries_are_ignored():
    history = [{"role": "user"}, {"content": "x"}, "not a dict", {"role": "user", "content": "   "}, *BREAST]
    assert standalone_query("and prostate cancer?", history) == "Where does prostate cancer usually spread?"


def test_and_prostate_cancer_finds_the_prostate_line_and_says_what_was_searched(seed_assistant):
    answer = seed_assistant.ask("and prostate cancer?", BREAST)
    assert answer.query == "Where does prostate cancer usually spread?"
    assert not answer.abstained
    assert any("Cancer prostate gland- bones, lungs, liver" in p.text for p in answer.passages)
    assert "Searched for: Where does prostate cancer usually spread?" in render_markdown(answer).replace("\\", "")


def test_which_ones_contain_nitrogen_follows_a_question_about_bone_medicines(seed_assistant):
    history = [_user("What medicines help with bone metastases?"), _assistant("[1] Treatment with bisphosphonates ...")]
    answer = seed_assistant.ask("which ones contain nitrogen?", history)
    assert "bone metastases" in answer.query and "nitrogen" in answer.query
    assert "Bisphosphonates containing nitrogen" in answer.passages[0].text


def test_what_symptoms_does_it_cause_answers_about_the_previous_subject(seed_assistant):
    answer = seed_assistant.ask("what symptoms does it cause?", [_user("What are bone metastases?"), _assistant("...")])
    assert "bone metastases" in answer.query
    assert not answer.abstained
    assert any("pain" in (p.highlight or "").lower() or "hypercalcemia" in (p.highlight or "").lower()
               for p in answer.passages)


def test_a_standalone_question_in_a_conversation_is_not_rewritten(seed_assistant):
    answer = seed_assistant.ask("How are metastases found?", BREAST)
    assert answer.query == "How are metastases found?"
    assert "Searched for" not in render_markdown(answer)


def test_who_and_when_of_the_earlier_message_are_not_carried_along():
    assert standalone_query("how does it help with treatment?", [_user("I heard about genomic testing of tumours.")]) == (
        "how does genomic testing help with treatment?")  # the two-word name opening it: its subject
    assert standalone_query("does it matter how many there are?",
                            [_user("My husband has been told he has metastases in his brain.")]) == (
        "does metastases brain matter how many there are?")


def test_a_pronoun_after_a_preposition_points_back_however_much_the_message_says():
    query = standalone_query("if someone is already paralysed from it, can they get movement back?",
                             [_user("Can metastases in the spine press on the spinal cord?")])
    # "it" is the earlier subject; "they" is the someone of this message.
    assert query == "if someone is already paralysed from metastases spine press spinal cord, can they get movement back?"


def test_it_opening_a_question_points_back_unless_it_is_the_empty_it():
    history = [_user("My oncologist suggested targeted therapy for my metastatic cancer.")]
    assert standalone_query("can it be used for every type of cancer?", history) == (
        "can targeted therapy be used for every type of cancer?")  # "it" is the therapy
    assert standalone_query("Is it true that chemo causes hair loss?", history) == "Is it true that chemo causes hair loss?"


def test_a_determiner_is_not_a_pronoun_and_one_points_back():
    history = [_user("My oncologist listed several medicines for my bone metastases, including immune boosters.")]
    assert standalone_query("what do those immune boosters actually do?", history) == (
        "what do those immune boosters actually do?")
    assert standalone_query("what happens in the first one?", [_user("I read that every metastasis forms in four phases.")]) == (
        "what happens in the first metastasis forms?")


def test_a_new_subject_of_the_same_family_takes_the_place_of_the_old_one():
    assert standalone_query("and the osteoblasts?", [_user("What do osteoclasts do in the bone?")]) == (
        "What do osteoblasts do in the bone?")

"""Cleaning on the clinic's seed pages, both directions: no page furniture in, all medicine kept."""

from __future__ import annotations

import re

import pytest

from assistant.documents.clean import clean_text, derive_title

from .conftest import SEED_CORPUS

SEED_FILES = sorted(SEED_CORPUS.glob("*.txt"))


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def cleaned():
    return {path.name: clean_text(path.read_text(encoding="utf-8")) for path in SEED_FILES}


# What web pages carry besides the article. Each entry is a fragment of one of those blocks as it
# stands in the seed pages; none of them may survive cleaning.
FURNITURE = [
    "Mon - Sat from 09:00 to 20:00",  # opening hours
    "Sun - closed",
    "About Us",  # navigation menu
    "For doctors",
    "Aviamotornaya",  # list of metro stations
    "Abortion Obstetrician Allergist",  # directory of specialists
    "Request a call back",  # call-back form
    "Leave your name and telephone number",
    "processing personal data",
    "322-23-08",  # phone number
    "Make an appointment",
    "Reader Questions",  # reader question
    "My sister has sarcoma",
    "Anonymous reviews",  # reviews
    "Anonymously",
    "she was active and did not sit still",
    "kingad.ru",  # copyright line
    "top of page",  # page anchors
    "bottom of page",
    "Mitglieder",  # forum member counter
    "1 Ansicht",  # view counter
    "Author of the article",  # byline
    "Aleksanyan",
    "Our doctors",
    "Related Questions to Explore",  # related links
    "What are the latest breakthroughs in metastatic cancer treatment?",
    "Continuing the topic of the article",
    "World Breast Cancer Day",
    "topic tags",
    "AbbreviationFinder",  # link to another site
    "Video:",
]


@pytest.mark.parametrize("fragment", FURNITURE)
def test_page_furniture_never_reaches_the_text(cleaned, fragment):
    for name, result in cleaned.items():
        assert fragment.lower() not in result.text.lower(), f"{fragment!r} survived cleaning in {name}"


# Medical text from every page and every part of a page (openings, lists, ends of articles).
MEDICINE = [
    "Metastases are always understood to mean a so-called daughter tumor",
    "Lung metastases can lead to shortness of breath and blood in the sputum.",
    "The regression of metastases is considered unlikely in a large number of patients.",
    "A distinction is made between local metastases, regional metastases and distant metastases.",
    "Metastases- These are secondary foci of growth of almost any malignant tumor.",
    "• Breast cancer - lungs, liver, bones",
    "• Cancer thyroid gland- lungs, liver, bones",
    "Up to 5% of patients with mts in the spine develop spinal compression",
    "• Pamidronate;",
    "Medicines containing nitrogenous compounds have greater therapeutic effect",
    "Is it possible to cure bone metastases? Early detection of metastases",
    "To detect metastases in oncological diseases radiography",  # right after the reader question
    "The development of metastases can be prevented by radical treatment of cancer in the early stages.",
    "some infectious diseases (for example, hepatitis C can cause cancer to develop or spread to the liver);",
    "Stage IV cancer with metastases is a terminal, severe degree of oncopathology",
    "• Hormone therapy is used as an anticancer treatment to block hormone levels in the body.",
    "Thus, treatment of cancer with metastases is not a myth",  # article text before the phone number
    "Metastatic cancer occurs when cancer cells break away from the original tumor",
    "If you or a loved one is facing this diagnosis, know this: you are not alone",
]


@pytest.mark.parametrize("sentence", MEDICINE)
def test_medical_text_is_kept(cleaned, sentence):
    assert any(sentence in _flat(result.text) for result in cleaned.values()), f"lost: {sentence!r}"


def test_every_long_article_line_is_kept_whole(cleaned):
    """Every raw line of running text (12+ words) is kept sentence for sentence, unless it is one
    of the reader posts, directories, forms or link lists above."""
    not_article = re.compile(
        r"Anonymously|\d{4}, \d{1,2}:\d{2}|metro station|specialist or service|telephone number|personal data"
        r"|Every year our doctors|^\d+\. (What|How|Are|Can)\b"
    )
    for path in SEED_FILES:
        text = _flat(cleaned[path.name].text)
        for line in path.read_text(encoding="utf-8").splitlines():
            line = _flat(line)
            if len(line.split()) < 12 or not_article.search(line):
                continue
            for sentence in re.split(r"(?<=[.!?])\s+", line):
                if re.search(r"\d[\d\s()-]{6,}\d|by calling|AbbreviationFinder", sentence):
                    continue  # contact sentences and cross-site links inside article paragraphs
                assert sentence in text, f"{path.name}: lost {sentence[:80]!r}"


def test_titles_are_real_titles(cleaned):
    titles = {name: derive_title(result) for name, result in cleaned.items()}
    assert titles["000_7782ddace2d17092.txt"] == "Metastases Explained"
    assert titles["003_aaaf039b87122b94.txt"] == "Cancer with metastases - what is dangerous and how to treat"
    assert titles["004_320d13a803e26c93.txt"].startswith("Metastatic Cancer Treatment")
    for name, title in titles.items():
        assert title, f"{name} has no title"
        assert len(title.split()) <= 14, f"{name}: {title!r} is a sentence, not a title"
        assert not re.search(r"top of page|\d{2}:\d{2}|closed|Mitglieder", title, re.I), f"{name}: {title!r}"
        assert not title.rstrip().endswith((",", ";", ".")), f"{name}: {title!r} is cut mid-sentence"


def test_roman_numerals_and_long_paragraphs_naming_page_parts_are_article_text():
    # Once dropped whole: "type I or" read as a reader writing "I ...", and a long paragraph
    # containing "related topics" as the heading of a related-links list.
    stage = ("Stage I and stage II breast cancer have not spread beyond the breast and nearby lymph nodes. "
             "Human T-lymphotrophic virus type I or Epstein-Barr virus infection may increase the risk.")
    related = ("Treatment depends on where the cancer has spread. Your care team will explain the related topics "
               "of pain control and nutrition, and how each treatment works. Most people can keep up their daily "
               "activities during treatment.")
    cleaned = clean_text(f"{stage}\n\n{related}\n").text
    assert stage in cleaned and related in cleaned
    reader = "I was diagnosed last year and my oncologist suggested radiotherapy for the spine, which helped a lot."
    assert reader not in clean_text(f"{stage}\n\n{reader}\n").text

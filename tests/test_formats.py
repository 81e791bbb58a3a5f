"""Word documents and the markup of web pages: headings become sections, furniture stays out."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.documents.load import UnusableFile, load_corpus, load_document


def write_leaflet(path: Path, *, title: str = "Liver metastases") -> Path:
    """A Word leaflet as a clinic writes one, with python-docx (the same library reads it)."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, 0)
    document.add_paragraph("Liver metastases are tumours that have spread to the liver from a cancer that started "
                           "somewhere else in the body.")
    document.add_heading("Treatment depends on the person.", 1)  # a heading shaped like a sentence
    document.add_paragraph("Surgery, chemotherapy or ablation may be offered. Your team explains each one.")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Radiofrequency ablation", "one day in hospital"
    document.add_paragraph("Ablation uses heat to destroy small tumours.", style="List Bullet")
    document.add_paragraph("Ask your specialist nurse which of these treatments suit you best.")
    document.save(path)
    return path


def test_word_headings_become_sections_and_lists_and_tables_stay(tmp_path):
    doc = load_document(write_leaflet(tmp_path / "liver.docx"), tmp_path)

    assert doc.title == "Liver metastases"
    assert [heading for _start, heading in doc.section_starts] == ["Treatment depends on the person."]
    start = doc.section_starts[0][0]
    assert doc.text[start:].startswith("Treatment depends on the person.\n\nSurgery, chemotherapy")
    assert doc.section_at(doc.text.index("Surgery")) == "Treatment depends on the person."
    assert "• Ablation uses heat to destroy small tumours." in doc.text
    assert "• Radiofrequency ablation · one day in hospital" in doc.text


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated", b"plain text renamed", b""])
def test_a_damaged_word_file_is_skipped_by_name_with_the_reason(tmp_path, content):
    write_leaflet(tmp_path / "good.docx")
    (tmp_path / "broken.docx").write_bytes(content)

    result = load_corpus(tmp_path)

    assert [d.id for d in result.documents] == ["good.docx"]
    [skipped] = result.skipped
    assert skipped.path == "broken.docx"
    assert ("Word document" in skipped.reason) if content else ("empty" in skipped.reason)


def test_an_old_binary_word_file_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "leaflet.doc").write_bytes(b"\xd0\xcf\x11\xe0 old word")
    with pytest.raises(UnusableFile, match="unsupported format .doc"):
        load_document(tmp_path / "leaflet.doc", tmp_path)


ARTICLE = (
    "<h1>Bone metastases</h1>"
    "<p>Bone metastases are areas of cancer that have spread to the bones from a tumour elsewhere.</p>"
    "<h2>Pain relief comes first.</h2>"
    "<p>Painkillers, radiotherapy and bone-strengthening drugs help most people with the pain.</p>"
)


def test_a_page_s_navigation_sidebar_comments_and_footer_are_left_out(tmp_path):
    page = (
        "<html><body><header><a href='/'>Riverside Cancer Centre</a> Switchboard open all week</header>"
        "<nav><ul><li>Home</li><li>Our services explained for new patients</li></ul></nav>"
        f"<main><article>{ARTICLE}"
        "<div class='share-buttons'>Share this page with a friend who may find it helpful today</div></article>"
        "<aside><h3>Related pages</h3><p>Support groups meet every Thursday evening in the library.</p></aside>"
        "<div id='comments' class='comments-area'><p>Thank you for this article, it helped our family a lot.</p></div>"
        "</main><footer><p>Registered charity number 1098765, Riverside Cancer Centre.</p></footer></body></html>"
    )
    (tmp_path / "bones.html").write_text(page, encoding="utf-8")

    doc = load_document(tmp_path / "bones.html", tmp_path)

    assert "Painkillers, radiotherapy and bone-strengthening drugs" in doc.text
    assert [heading for _start, heading in doc.section_starts] == ["Pain relief comes first."]
    for furniture in ("Switchboard", "Our services", "Share this page", "Support groups", "Thank you", "charity"):
        assert furniture not in doc.text


def test_a_page_whose_article_sits_in_a_box_named_like_furniture_is_read_whole(tmp_path):
    (tmp_path / "odd.html").write_text(f"<html><body><div class='menu'>{ARTICLE}</div></body></html>",
                                       encoding="utf-8")

    doc = load_document(tmp_path / "odd.html", tmp_path)

    assert "Painkillers, radiotherapy and bone-strengthening drugs" in doc.text

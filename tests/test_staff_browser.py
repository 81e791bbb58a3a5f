"""The staff console in Chromium, end to end: log in, upload a PDF and a Word file, rebuild with
live progress, read the report and the check questions, and find the new documents answering in
the patients' chat; then go back to the previous build. Also: a wrong password, a form without
its CSRF token, a corrupt upload, the console inside a clinic site's frame, axe at 360 px.

The assistant runs on 127.0.0.1; the clinic's own site, allowed to embed the chat, on 127.0.0.2.
The rebuild is the real `clinic-assistant build`, started by the console as a child process.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from assistant.config import Settings
from assistant.lifecycle.build import build_index
from assistant.texts import DISCLAIMER
from tests.conftest import ROOT, TINY_CORPUS
from tests.live_server import ClinicSite, axe_violations, clinic_page, needs_chromium, running_server
from ui.staff.accounts import hash_password

pytestmark = needs_chromium

PASSWORD = "a long staff passphrase"
BOX = 'textarea[data-testid="textbox"]'
BOT_MESSAGE = '[data-testid="bot"]'
BUILD_MS = 180_000  # the build loads the model in its own process; a shared two-core machine is slow
ANSWER_MS = 60_000
PHONE = {"width": 360, "height": 740}
# `make screenshots` copies these to docs/staff/ for the README.
SCREENSHOTS = ROOT / "test-artifacts" / "staff"
HAIR_QUESTION = "Does a cold cap stop my hair falling out during chemotherapy?"


def write_hair_leaflet(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = "Hair loss and scalp cooling"
    document.add_heading("Hair loss and scalp cooling", 0)
    document.add_paragraph("Some chemotherapy drugs make hair fall out, usually two to three weeks after the first "
                           "treatment. It grows back once treatment ends.")
    document.add_heading("Scalp cooling", 1)
    document.add_paragraph("A cold cap worn during each treatment cools the scalp, so less of the drug reaches the hair "
                           "roots. Scalp cooling saves some or all of the hair for about half of the people who try it.")
    document.save(path)
    return path


@pytest.fixture(scope="module")
def site():
    with ClinicSite("127.0.0.2") as site:
        yield site


@pytest.fixture(scope="module")
def staff_settings(tmp_path_factory, embedder, site) -> Settings:
    root = tmp_path_factory.mktemp("staff")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in ("liver.txt", "bones.md", "brain.html"):
        shutil.copy(TINY_CORPUS / name, corpus / name)
    (corpus / "checks.tsv").write_text("Why does jaundice come with liver metastases?\tliver.txt\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", staff_password_hash=hash_password(PASSWORD),
                        allowed_origins=(site.origin,), rate_limit_per_minute=0)
    build_index(settings, embedder=embedder)
    return settings


@pytest.fixture(scope="module")
def base_url(staff_settings, embedder, site):
    from assistant.answer import Assistant

    with running_server(staff_settings, assistant=Assistant.load(staff_settings, embedder=embedder)) as url:
        site.pages["/framed-console"] = clinic_page(f'<iframe src="{url}/staff/login" title="Console"></iframe>')
        yield url


@pytest.fixture
def page(browser_context, loopback, base_url):
    browser_context.clear_cookies()  # each test logs in (or fails to) on its own
    page = browser_context.new_page()
    yield page
    page.close()
    assert loopback.elsewhere() == [], "the page tried to reach other hosts"


def log_in(page, base_url: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/staff")
    page.get_by_label("Your name").fill("j.smith")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def screenshot(page, name: str) -> None:
    """The README's pictures of the console, made by this test run (see SCREENSHOTS)."""
    from PIL import Image  # installed with gradio

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, full_page=True)
    # 48 colours are plenty for a form on white, and a third of the bytes.
    Image.open(SCREENSHOTS / name).convert("RGB").quantize(colors=48).save(SCREENSHOTS / name, optimize=True)


def served_build(base_url: str) -> str:
    return httpx.get(f"{base_url}/healthz", timeout=10).json()["build"]


def test_staff_upload_a_pdf_and_a_word_file_rebuild_and_patients_get_answers_from_them(page, base_url, staff_settings,
                                                                                         tmp_path):
    first_build = served_build(base_url)
    log_in(page, base_url)
    expect(page.get_by_role("heading", name="Documents", level=1)).to_be_visible()
    expect(page.get_by_role("cell", name="Liver metastases")).to_be_visible()

    page.get_by_label("Files").set_input_files([TINY_CORPUS / "lungs.pdf",
                                                write_hair_leaflet(tmp_path / "Hair loss.docx")])
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.get_by_role("status").filter(has_text="Uploaded lungs.pdf")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Uploaded Hair loss.docx")).to_be_visible()
    waiting = page.locator("section", has=page.get_by_role("heading", name="Not in the index"))
    expect(waiting).to_contain_text("new: it joins the index at the next rebuild")
    screenshot(page, "documents.png")

    page.get_by_role("navigation").get_by_role("link", name="Rebuild").click()
    page.get_by_role("button", name="Rebuild the index").click()
    expect(page.get_by_role("status").filter(has_text="The build has started")).to_be_visible()
    # Live progress, then the report when it is done (the page reloads itself).
    expect(page.locator(".job-state")).to_contain_text("Running", timeout=ANSWER_MS)
    report = page.locator(".report").first
    expect(report).to_contain_text("+ lungs.pdf", timeout=BUILD_MS)
    expect(report).to_contain_text("+ Hair loss.docx: ")
    expect(page.locator(".job-state")).to_contain_text("Finished")
    expect(page.get_by_text("All 1 check questions found their document.")).to_be_visible()
    screenshot(page, "rebuild.png")

    # The patients' chat follows the new index within seconds.
    chat = page.context.new_page()
    chat.goto(base_url)
    answer = ask(chat, HAIR_QUESTION)
    expect(answer).to_contain_text("Hair loss and scalp cooling")
    expect(answer).to_contain_text("cold cap worn during each treatment")
    link = answer.get_by_role("link", name="open the source").first
    expect(link).to_have_attribute("href", "/sources/Hair%20loss.docx")
    answer = ask(chat, "How is fluid around the lungs drained?")
    expect(answer.get_by_role("link", name="open the source").first).to_have_attribute(
        "href", re.compile(r"^/sources/lungs\.pdf#page=\d+$"))
    # A link from the chat opens beside it, not in place of the conversation.
    expect(answer.get_by_role("link", name="open the source").first).to_have_attribute("target", "_blank")
    chat.close()

    # The documents table now lists them, with who checked them in.
    page.get_by_role("navigation").get_by_role("link", name="Documents").click()
    row = page.get_by_role("row").filter(has_text="Hair loss and scalp cooling")
    expect(row).to_contain_text("Word")
    expect(row).to_contain_text("j.smith (uploaded")

    # And back: the earlier build is served again.
    page.get_by_role("navigation").get_by_role("link", name="Rebuild").click()
    page.get_by_role("button", name="Serve the previous build").click()
    expect(page.get_by_role("status").filter(has_text="Now serving the earlier build")).to_be_visible()
    for _ in range(50):  # the live server follows `current` within about 2 s
        if served_build(base_url) == first_build:
            break
        page.wait_for_timeout(200)
    assert served_build(base_url) == first_build


def ask(chat, question: str):
    chat.locator(BOX).fill(question)
    chat.locator(BOX).press("Enter")
    answer = chat.locator(BOT_MESSAGE).last
    expect(answer).to_contain_text(DISCLAIMER, timeout=ANSWER_MS)
    return answer


def test_a_wrong_password_is_refused(page, base_url):
    log_in(page, base_url, password="not the password at all")

    expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert [c for c in page.context.cookies() if c["name"] == "__Host-staff"] == []


def test_a_change_without_its_csrf_token_is_refused_and_changes_nothing(page, base_url, staff_settings):
    log_in(page, base_url)
    delete = page.get_by_role("row").filter(has_text="Bone metastases").locator("form", has=page.get_by_role(
        "button", name="Delete"))
    delete.locator("input[name=csrf_token]").evaluate("input => input.remove()")

    with page.expect_response(lambda r: r.url.endswith("/staff/documents/delete")) as response:
        delete.get_by_role("button", name="Delete").click()

    assert response.value.status == 403
    expect(page.locator("body")).to_contain_text("did not come from the staff console")
    assert (staff_settings.corpus_dir / "bones.md").exists()


def test_a_corrupt_upload_is_refused_by_name_and_the_old_index_keeps_serving(page, base_url, staff_settings):
    before = served_build(base_url)
    log_in(page, base_url)

    page.get_by_label("Files").set_input_files(TINY_CORPUS / "corrupt.pdf")
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.get_by_role("alert")).to_contain_text("corrupt.pdf cannot be used: not a readable PDF")
    assert not (staff_settings.corpus_dir / "corrupt.pdf").exists()
    assert served_build(base_url) == before
    answer = httpx.post(f"{base_url}/api/ask", json={"question": "Why does jaundice come with liver metastases?"},
                        timeout=60).json()
    assert answer["passages"] and answer["passages"][0]["doc_id"] == "liver.txt"


def test_the_console_cannot_be_framed_even_by_the_clinic_s_own_allowed_site(page, site, base_url):
    with page.expect_console_message(lambda message: "frame-ancestors" in message.text):
        page.goto(f"{site.origin}/framed-console")

    assert [frame.url for frame in page.frames if frame.url.startswith(base_url)] == []
    # Nor may its scripts read or send anything to the console (no CORS for it, 403 besides).
    outcome = page.evaluate("""async (url) => {
        try { const r = await fetch(url, { credentials: "include" }); return String(r.status); }
        catch (error) { return error.name; } }""", f"{base_url}/staff/login")
    assert outcome == "TypeError"
    response = httpx.get(f"{base_url}/staff/login", headers={"Origin": site.origin, "Sec-Fetch-Site": "same-site"})
    assert response.status_code == 403 and "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ["/staff/login", "/staff", "/staff/build", "/staff/website", "/staff/feedback"])
def test_console_pages_pass_axe_and_fit_a_phone(browser_context, loopback, base_url, path):
    browser_context.clear_cookies()
    page = browser_context.new_page()
    page.set_viewport_size(PHONE)
    if path != "/staff/login":
        log_in(page, base_url)
    page.goto(base_url + path)

    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("window.cspViolations") == []
    page.close()
    assert loopback.elsewhere() == []

"""The staff console's defences over real HTTP: off by default, passwords, sessions, CSRF, other
sites, upload checks, and what the log says about each change.

Browsers are in test_staff_browser.py; here a plain client sends exactly the headers a browser
on another site would, and the forged requests a browser would not.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import time

import httpx
import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.config import Settings
from assistant.lifecycle.build import build_index
from tests.conftest import TINY_CORPUS
from tests.live_server import running_server
from ui.staff.accounts import AccountsError, hash_password, verify_password
from ui.staff.sessions import COOKIE

PASSWORD = "a long staff passphrase"
OTHER_SITE = "http://127.0.0.2:8000"  # allowed to embed the chat, never to use the console


@pytest.fixture(scope="module")
def staff_settings(tmp_path_factory, embedder) -> Settings:
    root = tmp_path_factory.mktemp("staff-http")
    (root / "corpus").mkdir()
    for name in ("liver.txt", "bones.md"):
        shutil.copy(TINY_CORPUS / name, root / "corpus" / name)
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", allowed_origins=(OTHER_SITE,),
                        staff_password_hash=hash_password(PASSWORD), staff_max_upload_mb=1)
    build_index(settings, embedder=embedder)
    return settings


@pytest.fixture(scope="module")
def base_url(staff_settings, embedder):
    from assistant.answer import Assistant

    with running_server(staff_settings, assistant=Assistant.load(staff_settings, embedder=embedder)) as url:
        yield url


class Staff:
    """A logged-in member of staff. The cookie is sent by hand: it is Secure, and httpx, unlike
    a browser, sends no Secure cookie to http://127.0.0.1."""

    def __init__(self, base_url: str, name: str = "j.smith") -> None:
        self.base_url = base_url
        response = login(base_url, name, PASSWORD)
        assert response.status_code == 303, response.text
        self.cookie = response.headers["set-cookie"].split(";")[0]

    def get(self, path: str, **options) -> httpx.Response:
        return httpx.get(self.base_url + path, headers={"Cookie": self.cookie, **options.pop("headers", {})}, **options)

    def post(self, path: str, **options) -> httpx.Response:
        return httpx.post(self.base_url + path, headers={"Cookie": self.cookie, **options.pop("headers", {})}, **options)

    def csrf(self) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', self.get("/staff").text)[1]

    def finished_job(self, status_path: str, seconds: float = 300) -> dict:
        """The job's status once it no longer runs (a build loads the model first: allow time)."""
        deadline = time.monotonic() + seconds
        while (job := self.get(status_path).json())["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        return job


def login(base_url: str, name: str, password: str, **headers) -> httpx.Response:
    form = httpx.get(f"{base_url}/staff/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', form)[1]
    return httpx.post(f"{base_url}/staff/login", data={"name": name, "password": password, "login_token": token},
                      headers=headers)


def messages(response: httpx.Response) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="message[^"]*" role="\w+">(.*?)</p>', response.text, re.S)]


def test_the_console_is_off_unless_a_password_is_set(seed_settings, seed_assistant):
    with running_server(seed_settings, assistant=seed_assistant) as url:
        for path in ("/staff", "/staff/login", "/staff/build"):
            assert httpx.get(url + path).status_code == 404
        assert httpx.post(url + "/staff/login", data={"name": "x", "password": "y"}).status_code == 404


def test_pages_need_a_session_and_the_cookie_is_secure_httponly_strict(base_url):
    assert httpx.get(f"{base_url}/staff").headers["location"] == "/staff/login"
    assert httpx.get(f"{base_url}/staff/build/status").status_code == 401

    response = login(base_url, "j.smith", PASSWORD)

    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert all(flag in cookie.lower() for flag in ("secure", "httponly", "samesite=strict", "path=/"))


def test_console_pages_are_never_framed_cached_or_scripted_from_elsewhere(base_url):
    response = Staff(base_url).get("/staff")

    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and OTHER_SITE not in policy
    assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy
    assert "form-action 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


def test_a_wrong_password_or_an_unknown_form_is_refused(base_url):
    assert login(base_url, "j.smith", "not the password").status_code == 401
    forged = httpx.post(f"{base_url}/staff/login", data={"name": "j.smith", "password": PASSWORD, "login_token": "x"})
    assert forged.status_code == 403 and "set-cookie" not in forged.headers


def test_login_attempts_are_limited(base_url):
    statuses = [login(base_url, "locked.out", "guess number %d" % n).status_code for n in range(7)]

    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    # The right password does not get past the limit either.
    assert login(base_url, "locked.out", PASSWORD).status_code == 429


def test_a_forged_or_tampered_session_is_no_session(base_url):
    staff = Staff(base_url)
    value = staff.cookie.split("=", 1)[1]
    payload, signature = value.rsplit(".", 1)

    for forged in (value[:-2] + "xx", payload + ".", "eyJuIjoiYWRtaW4ifQ.x.y"):
        response = httpx.get(f"{base_url}/staff", headers={"Cookie": f"{COOKIE}={forged}"})
        assert response.status_code == 303 and response.headers["location"] == "/staff/login"


def test_a_change_needs_the_session_s_own_csrf_token(base_url, staff_settings):
    staff, other = Staff(base_url), Staff(base_url, "m.jones")

    for token in (None, "", "0" * 64, other.csrf()):
        data = {"doc_id": "bones.md"} | ({"csrf_token": token} if token is not None else {})
        response = staff.post("/staff/documents/delete", data=data)
        assert response.status_code == 403, token
    assert (staff_settings.corpus_dir / "bones.md").exists()


@pytest.mark.parametrize("headers", [
    {"Origin": OTHER_SITE},  # the clinic's own site, allowed for the chat
    {"Origin": "null"},
    {"Sec-Fetch-Site": "same-site"},  # www.clinic.org -> assistant.clinic.org is the same site
    {"Sec-Fetch-Site": "cross-site"},
])
def test_other_sites_cannot_use_the_console_even_with_a_valid_token(base_url, staff_settings, headers):
    staff = Staff(base_url)
    csrf = staff.csrf()

    response = staff.post("/staff/documents/delete", data={"doc_id": "bones.md", "csrf_token": csrf}, headers=headers)

    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert (staff_settings.corpus_dir / "bones.md").exists()


def test_no_cors_preflight_is_answered_for_the_console(base_url):
    response = httpx.options(f"{base_url}/staff/documents/delete",
                             headers={"Origin": OTHER_SITE, "Access-Control-Request-Method": "POST"})

    assert response.status_code == 403 and "access-control-allow-origin" not in response.headers


def test_a_link_from_another_site_still_reaches_the_login_page(base_url):
    response = httpx.get(f"{base_url}/staff/login", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})

    assert response.status_code == 200 and "Log in" in response.text


@pytest.mark.parametrize("name, data, reason", [
    ("leaflet<script>.txt", b"A name no file should have.", "not a usable file name"),
    ("sources.csv", b"file,title,url\n", "describes the corpus"),
    (".hidden.txt", b"A hidden file.", "not a usable file name"),
    ("leaflet.doc", b"\xd0\xcf\x11\xe0", "cannot be read; use"),
    ("scan.pdf", b"GIF89a not a pdf", "is not a PDF"),
    ("empty.txt", b"", "empty file"),
    ("binary.txt", b"\x00\x01\x02 binary", "binary content"),
    ("big.txt", b"word " * 202_000, "at most 1 MB"),  # 1.01 MB: within the request limit, over the file limit
])
def test_a_bad_upload_is_refused_by_name_with_its_reason_and_the_good_ones_are_kept(base_url, staff_settings, name,
                                                                                      data, reason):
    staff = Staff(base_url)
    good = f"good-{abs(hash(name)) % 10_000}.txt"

    response = staff.post("/staff/documents/upload", data={"csrf_token": staff.csrf()},
                          files=[("files", (name, data)), ("files", (good, b"Scans show whether cancer has spread."))])

    assert response.status_code == 422
    [refused] = [m for m in messages(response) if reason in m]
    assert name.split("/")[-1] in refused or name in refused
    assert any(m.startswith(f"Uploaded {good}") for m in messages(response))
    assert (staff_settings.corpus_dir / good).exists()
    assert not (staff_settings.corpus_dir / name).exists()


def test_an_upload_s_folder_names_are_dropped_so_it_lands_in_the_corpus_folder(base_url, staff_settings):
    staff = Staff(base_url)

    for name in ("../escape.txt", "..\\..\\escape.txt", "C:\\Users\\nurse\\escape.txt"):
        response = staff.post("/staff/documents/upload", data={"csrf_token": staff.csrf()},
                              files={"files": (name, b"Scans show whether cancer has spread to the bones.")})
        assert response.status_code == 200 and messages(response)[0].startswith(("Uploaded escape.txt",
                                                                                 "Replaced escape.txt"))

    assert (staff_settings.corpus_dir / "escape.txt").exists()
    assert not (staff_settings.corpus_dir.parent / "escape.txt").exists()


def test_a_request_over_the_upload_limit_is_refused_before_it_is_read(base_url):
    staff = Staff(base_url)

    response = staff.post("/staff/documents/upload", data={"csrf_token": staff.csrf()},
                          files=[("files", ("huge.txt", b"x" * 1_200_000))])

    assert response.status_code == 413


def test_replace_keeps_the_name_and_type_and_delete_only_takes_documents(base_url, staff_settings):
    staff = Staff(base_url)
    csrf = staff.csrf()

    wrong_type = staff.post("/staff/documents/replace", data={"csrf_token": csrf, "doc_id": "liver.txt"},
                            files={"file": ("liver.pdf", b"%PDF-1.4")})
    replaced = staff.post("/staff/documents/replace", data={"csrf_token": csrf, "doc_id": "liver.txt"},
                          files={"file": ("new liver.txt", b"Liver metastases can cause jaundice and itching.")})
    outside = staff.post("/staff/documents/delete", data={"csrf_token": csrf, "doc_id": "../index/manifest.json"})
    not_a_document = staff.post("/staff/documents/delete", data={"csrf_token": csrf, "doc_id": "checks.tsv"})

    assert wrong_type.status_code == 422 and "is not a .txt file like liver.txt" in messages(wrong_type)[0]
    assert replaced.status_code == 200 and messages(replaced)[0].startswith("Replaced liver.txt")
    assert (staff_settings.corpus_dir / "liver.txt").read_text() == "Liver metastases can cause jaundice and itching."
    assert outside.status_code == 422 and not_a_document.status_code == 422
    assert "There is no document" in messages(outside)[0]


def test_every_change_is_logged_with_who_and_which_document_and_nothing_else(base_url, staff_settings, caplog):
    staff = Staff(base_url)
    text = b"Radiotherapy to the spine can relieve pain within two weeks."

    with caplog.at_level(logging.DEBUG):
        staff.post("/staff/documents/upload", data={"csrf_token": staff.csrf()}, files={"files": ("spine.txt", text)})
        staff.post("/staff/documents/delete", data={"csrf_token": staff.csrf(), "doc_id": "spine.txt"})

    log = caplog.text
    assert "staff j.smith uploaded spine.txt" in log and "staff j.smith deleted spine.txt" in log
    assert "Radiotherapy" not in log and PASSWORD not in log
    table = staff.get("/staff").text
    assert "spine.txt" not in table  # gone from the folder


def test_a_changed_password_ends_the_sessions_of_the_old_one(staff_settings, embedder):
    from assistant.answer import Assistant

    assistant = Assistant.load(staff_settings, embedder=embedder)
    with running_server(staff_settings, assistant=assistant) as url:
        staff = Staff(url)
    renewed = staff_settings.with_(staff_password_hash=hash_password("another long passphrase"))
    with running_server(renewed, assistant=assistant) as url:
        response = httpx.get(f"{url}/staff", headers={"Cookie": staff.cookie})
    assert response.status_code == 303  # the same secret, but the session was for the old password


def test_named_accounts_prove_the_name(tmp_path, staff_settings, embedder):
    from assistant.answer import Assistant

    result = CliRunner().invoke(main, ["staff-password", "--name", "a.nurse", "--password", "the nurse's passphrase"])
    assert result.exit_code == 0, result.output
    accounts = tmp_path / "accounts.txt"
    accounts.write_text("# name:hash\n" + result.output, encoding="utf-8")
    settings = staff_settings.with_(staff_password_hash=None, staff_accounts=accounts)

    with running_server(settings, assistant=Assistant.load(settings, embedder=embedder)) as url:
        assert login(url, "a.nurse", "the nurse's passphrase").status_code == 303
        assert login(url, "someone.else", "the nurse's passphrase").status_code == 401


def test_the_password_command_prints_a_hash_that_checks_and_refuses_short_ones():
    result = CliRunner().invoke(main, ["staff-password"], input="correct horse battery\ncorrect horse battery\n")
    printed = result.output.strip().splitlines()[-1]

    assert result.exit_code == 0 and printed.startswith("scrypt$ln=15,r=8,p=1$")
    assert verify_password("correct horse battery", printed) and not verify_password("correct horse", printed)
    short = CliRunner().invoke(main, ["staff-password", "--password", "short"])
    assert short.exit_code == 1 and "at least 10 characters" in short.output


def test_a_broken_password_setting_stops_the_server_with_what_to_fix(staff_settings):
    from ui.app import create_app

    with pytest.raises(AccountsError, match="STAFF_PASSWORD_HASH is not a hash"):
        create_app(staff_settings.with_(staff_password_hash="hunter2"), assistant=object())


def test_votes_show_per_document_as_bars_and_gaps_only_when_kept(base_url, staff_settings, embedder):
    from assistant.answer import Assistant
    from assistant.records.gaps import GapsLog

    for vote in ("up", "up", "down"):
        assert httpx.post(f"{base_url}/api/feedback", json={"doc_ids": ["liver.txt"], "vote": vote}).status_code == 200
    page = Staff(base_url).get("/staff/feedback").text

    row = re.search(r"<tr>\s*<td data-label=\"Document\">Liver metastases.*?</tr>", page, re.S)[0]
    assert '<td data-label="Helpful">2</td>' in row and '<td data-label="Not helpful">1</td>' in row
    assert re.search(r'<rect class="up" [^>]*width="160"', row) and re.search(r'<rect class="down" [^>]*width="80"', row)
    assert "GAPS_LOG=1" in page  # off: nothing of what patients typed is shown, nor kept

    settings = staff_settings.with_(gaps_log=True)
    GapsLog(settings.resolved_gaps_db, retention_days=30).record("Can I fly with bone metastases?")
    GapsLog(settings.resolved_gaps_db, retention_days=30).record("Is flying safe with bone metastases?")
    with running_server(settings, assistant=Assistant.load(settings, embedder=embedder)) as url:
        page = Staff(url).get("/staff/feedback").text
    assert "<strong>2 ×</strong>" in page and "Can I fly with bone metastases?" in page


def test_the_website_is_fetched_from_the_console_by_the_crawl_command(base_url, staff_settings):
    from tests.test_crawl import Site, page

    staff = Staff(base_url)
    with Site("127.0.0.2") as site:
        site.put("/robots.txt", "User-agent: *\nDisallow:\n", "text/plain")
        site.put("/", page("Spinal cord compression", "Back pain with weak legs needs urgent care the same day."))
        started = staff.post("/staff/website", data={"csrf_token": staff.csrf(), "url": site.origin + "/",
                                                     "max_pages": "5"})
        again = staff.post("/staff/website", data={"csrf_token": staff.csrf(), "url": site.origin + "/"})
        job = staff.finished_job("/staff/website/status", seconds=60)

    assert started.status_code == 303 and started.headers["location"] == "/staff/website?notice=crawl-started"
    assert again.status_code in (303, 409)  # 409 "already running", unless the first had already finished
    assert job["state"] == "done" and job["by"] == "j.smith", job
    assert any("1 new" in line for line in job["lines"])
    stored = [p for p in (staff_settings.corpus_dir / "web").rglob("*.html")]
    assert len(stored) == 1 and "weak legs" in stored[0].read_text()
    table = staff.get("/staff").text
    assert "j.smith (crawled" in table and "new: it joins the index at the next rebuild" in table


def test_a_rebuild_from_the_console_is_the_command_line_s_build_and_runs_once(base_url, staff_settings):
    from assistant.lifecycle.status import read_status, status_path

    staff = Staff(base_url)
    (staff_settings.corpus_dir / "rebuilt.txt").write_text("Radiotherapy can shrink a tumour pressing on the spine.",
                                                          encoding="utf-8")

    first = staff.post("/staff/build", data={"csrf_token": staff.csrf()})
    second = staff.post("/staff/build", data={"csrf_token": staff.csrf()})
    job = staff.finished_job("/staff/build/status")

    assert first.status_code == 303 and first.headers["location"] == "/staff/build?notice=build-started"
    assert second.status_code == 409 and "A build is already running (started by j.smith" in messages(second)[0]
    assert job["state"] == "done" and job["published"], job
    assert any(line.startswith("  + rebuilt.txt: 1 passages") for line in job["lines"]), job["lines"]
    on_disk = read_status(status_path(staff_settings.index_dir, "build"))
    assert on_disk.by == "j.smith" and on_disk.lines == tuple(job["lines"])


def test_the_console_s_jobs_run_with_exactly_the_server_s_settings(staff_settings, monkeypatch):
    settings = staff_settings.with_(top_k=5, gaps_log=True, chunk_max_tokens=120, urgent_phone="0161 555 0100")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)

    assert Settings.from_env() == settings

"""The HTTP API over real HTTP: a uvicorn server on loopback, the real model, an index of the seed corpus."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from assistant.config import Settings
from assistant.texts import DISCLAIMER, SERVICE_ERROR
from tests.live_server import (
    FailingAssistant,
    assert_clean_error,
    assert_nothing_leaks,
    running_server,
)
from ui.app import API_MAX_BODY, serve

BREAST_CANCER = "Where does breast cancer usually spread?"
ANSWER_KEYS = {"question", "query", "abstained", "urgent", "urgency", "urgent_reason", "passages",
               "answer_markdown", "disclaimer"}
PASSAGE_KEYS = {"text", "highlight", "title", "doc_id", "url", "source_url", "page", "score"}


@pytest.fixture(scope="module")
def base_url(seed_settings):
    # No rate limit: this module sends more requests than one person would.
    with running_server(seed_settings.with_(rate_limit_per_minute=0)) as url:
        yield url


@pytest.fixture(scope="module")
def failing_url(seed_settings, seed_assistant):
    with running_server(seed_settings, assistant=FailingAssistant(seed_assistant)) as url:
        yield url


def post_ask(base_url: str, **request) -> httpx.Response:
    return httpx.post(f"{base_url}/api/ask", timeout=60, **request)


def test_question_is_answered_with_cited_passages_and_the_disclaimer(base_url):
    response = post_ask(base_url, json={"question": BREAST_CANCER})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ANSWER_KEYS
    assert body["question"] == BREAST_CANCER
    assert body["abstained"] is False and body["urgent"] is False
    assert body["urgency"] == "none" and body["urgent_reason"] is None
    assert any("Breast cancer - lungs, liver, bones" in passage["text"] for passage in body["passages"])
    for passage in body["passages"]:
        assert set(passage) == PASSAGE_KEYS
        assert passage["title"] and passage["doc_id"]
        assert isinstance(passage["score"], float)
        assert passage["page"] is None or isinstance(passage["page"], int)
        # The seed pages have no web address: the assistant serves them, on its own address.
        assert passage["url"] is None and passage["source_url"] == f"{base_url}/sources/{passage['doc_id']}"
        assert f"[open the source]({passage['source_url']})" in body["answer_markdown"]
    assert "[1]" in body["answer_markdown"]
    assert body["disclaimer"] == DISCLAIMER
    assert DISCLAIMER in body["answer_markdown"]


def test_follow_up_with_history_is_answered(base_url):
    history = [
        {"role": "user", "content": BREAST_CANCER},
        {"role": "assistant", "content": "Breast cancer - lungs, liver, bones"},
    ]
    response = post_ask(base_url, json={"question": "How are they found?", "history": history})

    assert response.status_code == 200, response.text
    assert response.json()["disclaimer"] == DISCLAIMER


def test_too_long_question_gets_a_polite_refusal_not_an_error(base_url, seed_settings):
    response = post_ask(base_url, json={"question": "metastases " * seed_settings.max_question_chars})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["abstained"] is True and body["passages"] == []
    assert body["disclaimer"] == DISCLAIMER


def test_healthz_describes_the_index(base_url):
    response = httpx.get(f"{base_url}/healthz", timeout=10)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "documents", "chunks", "model", "built_at", "build"}
    assert body["status"] == "ok"
    assert isinstance(body["documents"], int) and body["documents"] > 0
    assert isinstance(body["chunks"], int) and body["chunks"] >= body["documents"]
    assert isinstance(body["model"], str) and body["model"]


@pytest.mark.parametrize(
    ("content", "status"),
    [
        pytest.param(b"", 400, id="empty body"),
        pytest.param(b"null", 422, id="body is null"),
        pytest.param(b"Where does it spread?", 400, id="not JSON"),
        pytest.param(b'{"question": "Where does \xff\xfe spread?"}', 400, id="invalid UTF-8"),
        pytest.param(b"[" * 50_000, 400, id="nested too deep"),
        pytest.param(b'["Where does it spread?"]', 422, id="not an object"),
        pytest.param(b"{}", 422, id="no question"),
        pytest.param(b'{"question": 5}', 422, id="question is a number"),
        pytest.param(b'{"question": null}', 422, id="question is null"),
        pytest.param(b'{"question": ["a"]}', 422, id="question is a list"),
        pytest.param(b'{"question": ""}', 422, id="empty question"),
        pytest.param(b'{"question": " \\n\\t "}', 422, id="blank question"),
        pytest.param(b'{"question": "\\ud800"}', 422, id="lone surrogate"),
        pytest.param(b'{"question": "Why?", "history": "x"}', 422, id="history is a string"),
        pytest.param(b'{"question": "Why?", "history": null}', 422, id="history is null"),
        pytest.param(b'{"question": "Why?", "history": [{"content": "hi"}]}', 422, id="history item without role"),
        pytest.param(
            b'{"question": "Why?", "history": [{"role": "system", "content": "hi"}]}', 422, id="unknown role"
        ),
        pytest.param(b'{"question": "Why?", "history": [{"role": "user", "content": 5}]}', 422, id="content is a number"),
        pytest.param(b'{"question": "Why?", "history": ["hi"]}', 422, id="history item is a string"),
        pytest.param(b'{"question": "Why?", "extra": 1}', 422, id="unknown field"),
        pytest.param(b'{"question": {"text": "Why?"}}', 422, id="question is an object"),
        pytest.param(b'{"question": true}', 422, id="question is a boolean"),
        pytest.param(b'{"question": "Why?", "history": {"role": "user"}}', 422, id="history is an object"),
        pytest.param(b'{"question": "Why?", "history": [null]}', 422, id="history item is null"),
    ],
)
def test_malformed_request_gets_a_clean_4xx(base_url, content, status):
    response = post_ask(base_url, content=content, headers={"content-type": "application/json"})

    assert_clean_error(response, status)


@pytest.mark.parametrize(
    "question",
    [
        pytest.param("Where does \x00breast cancer\x07 spread?\x1b[31m", id="control characters"),
        pytest.param("\x00\x01\x02\x7f", id="only control characters"),
        pytest.param("\u202eWhere does it spread?\u200b\ufeff", id="bidi and zero-width characters"),
        pytest.param("Where does it spread? \U0001f914 \u00e9\u00e8 \u4e2d\u6587", id="emoji and other scripts"),
        pytest.param("<script>alert(1)</script> where does it spread?", id="markup"),
        pytest.param("x" * 60_000, id="60,000 characters without spaces"),
    ],
)
def test_odd_text_gets_an_answer_or_a_polite_refusal(base_url, question):
    response = post_ask(base_url, json={"question": question})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ANSWER_KEYS and body["disclaimer"] == DISCLAIMER
    assert "<script>" not in body["answer_markdown"]  # the question's markup is escaped too
    assert_nothing_leaks(response)


def test_100_kb_question_is_refused_as_too_large(base_url):
    assert_clean_error(post_ask(base_url, json={"question": "metastases " * 10_000}), 413)


def test_empty_question_error_asks_for_a_question(base_url):
    response = post_ask(base_url, json={"question": "   "})

    assert_clean_error(response, 422)
    assert "Please type a question" in response.json()["error"]


def test_body_over_the_limit_is_refused_by_its_declared_length(base_url):
    question = "x" * (API_MAX_BODY + 1)

    assert_clean_error(post_ask(base_url, content=json.dumps({"question": question})), 413)


def test_body_over_the_limit_is_refused_when_sent_in_chunks(base_url):
    # A generator body is sent with Transfer-Encoding: chunked, without a Content-Length.
    def chunks():
        yield b'{"question": "'
        for _ in range(API_MAX_BODY // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    assert_clean_error(post_ask(base_url, content=chunks()), 413)


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/api/ask", 405), ("POST", "/api/questions", 404)])
def test_other_api_routes_get_a_clean_error(base_url, method, path, status):
    assert_clean_error(httpx.request(method, f"{base_url}{path}", timeout=10), status)


def test_gradio_upload_route_is_closed(base_url):
    response = httpx.post(f"{base_url}/gradio_api/upload", files={"files": ("note.txt", b"hello")}, timeout=10)

    assert_clean_error(response, 404)


def test_simultaneous_questions_are_all_answered(base_url):
    questions = [BREAST_CANCER, "How are metastases found?", "Can metastases be treated?", BREAST_CANCER]
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        responses = list(pool.map(lambda q: post_ask(base_url, json={"question": q}), questions))

    assert [r.status_code for r in responses] == [200] * len(questions)
    assert [r.json()["question"] for r in responses] == questions


def test_question_text_never_reaches_the_logs(base_url, caplog):
    marker = "Does zebrafinch-4711 cancer spread to the bones?"
    caplog.set_level(logging.DEBUG)

    assert post_ask(base_url, json={"question": marker}).status_code == 200
    assert post_ask(base_url, json={"question": 5}).status_code == 422

    assert caplog.records, "the server logged nothing at all: the check below would prove nothing"
    assert "zebrafinch" not in caplog.text


def test_failure_inside_the_assistant_is_a_clean_500(failing_url, caplog):
    caplog.set_level(logging.INFO)

    response = post_ask(failing_url, json={"question": "Does zebrafinch-4711 cancer spread?"})

    assert_clean_error(response, 500)
    assert response.json()["error"] == SERVICE_ERROR
    assert "RuntimeError" in caplog.text  # logged for the operator, without the message
    assert "zebrafinch" not in caplog.text


def test_server_without_an_index_refuses_to_start_in_one_sentence(tmp_path):
    with pytest.raises(SystemExit) as stopped:
        serve(Settings(index_dir=tmp_path / "index"))

    message = stopped.value.code
    assert isinstance(message, str) and message.startswith("No index in")
    assert "clinic-assistant build" in message and "Traceback" not in message

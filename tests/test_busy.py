"""A surge of questions: those that cannot be answered soon get a clean 503 at once, and the
server answers normally as soon as the surge is over. Real server, real model, seed index."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from assistant.texts import BUSY, DISCLAIMER
from tests.live_server import assert_clean_error, running_server

QUESTION = {"question": "Where does breast cancer usually spread?"}


class HeldAssistant:
    """The real Assistant, made to wait at the start of each answer until the test lets it go:
    a stand-in for a question that takes long, so that others pile up behind it."""

    def __init__(self, assistant) -> None:
        self._assistant = assistant
        self.started = threading.Event()
        self.release = threading.Event()

    def ask(self, question: str, history=None):
        self.started.set()
        self.release.wait(timeout=60)
        return self._assistant.ask(question, history)

    def health(self) -> dict:
        return self._assistant.health()


def test_questions_beyond_the_queue_get_a_503_at_once_and_the_server_recovers(seed_settings, seed_assistant):
    held = HeldAssistant(seed_assistant)
    settings = seed_settings.with_(rate_limit_per_minute=0, max_waiting_questions=2)
    with running_server(settings, assistant=held) as url, ThreadPoolExecutor(max_workers=5) as pool:
        ask = lambda: httpx.post(f"{url}/api/ask", json=QUESTION, timeout=60)  # noqa: E731
        first = pool.submit(ask)
        assert held.started.wait(timeout=30)  # the worker is busy with the first question
        # Four more at once: one can wait beside the first (two in the queue), three cannot.
        others = [pool.submit(ask) for _ in range(4)]
        refused = []
        while len(refused) < 3:  # the refusals come back at once, while the first is still held
            refused = [o.result() for o in others if o.done() and o.result().status_code == 503]
        for response in refused:
            assert_clean_error(response, 503)
            assert response.json() == {"error": BUSY, "disclaimer": DISCLAIMER}
            assert response.headers["Retry-After"] == "2"

        held.release.set()
        answered = [first.result(timeout=60)] + [o.result(timeout=60) for o in others if o.result().status_code != 503]
        assert [a.status_code for a in answered] == [200, 200]
        assert all(a.json()["passages"] for a in answered)
        after = ask()
        assert after.status_code == 200 and after.json()["passages"]


def test_two_answer_workers_give_the_answers_one_gives(seed_assistant):
    # The Assistant is shared by the workers (the encoder, FAISS, the keyword search's stemmer):
    # twelve questions at once on two workers must come back exactly as asked one by one.
    import asyncio

    from assistant.render import answer_to_dict
    from ui.answer_queue import AnswerWorkers

    questions = ["Where does breast cancer usually spread?", "Can metastases be cured?",
                 "what helps with bone pain from mets", "Is radiofrequency ablation used for liver metastases?",
                 "How is a brain metastasis treated?", "What does stage 4 mean?"] * 2
    alone = [answer_to_dict(seed_assistant.ask(q, [])) for q in questions]
    workers = AnswerWorkers(seed_assistant, max_waiting=64, workers=2)

    async def all_at_once():
        return await asyncio.gather(*(workers.ask(q, []) for q in questions))

    try:
        together = [answer_to_dict(a) for a in asyncio.run(all_at_once())]
    finally:
        workers.close()
    assert together == alone

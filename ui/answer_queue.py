"""Questions answered by a few worker threads, in arrival order, with a bounded wait.

The service has one Assistant (one model, one index in memory) and two cores; one answer worker
per core answers, and the queue in front of them decides who waits and who is told to come back
(ServerBusy -> 503 + Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assistant.answer import Assistant
from assistant.types import Answer

log = logging.getLogger(__name__)


class ServerBusy(RuntimeError):
    """Too many questions are waiting: this one is refused now rather than answered late."""


# Seconds a refused client is asked to wait (Retry-After of the 503).
BUSY_RETRY_SECONDS = 2
# A question that has waited this long for its turn is refused instead of answered: a client
# (and a patient) should hear within 5 seconds, and an answer computed after it gave up is
# wasted work that delays everyone behind it.
MAX_WAIT_SECONDS = 4.0


class AnswerWorkers:
    """The Assistant, asked on `workers` threads of its own (one per core by default).

    ask() is CPU-bound and safe to call from several threads: the ONNX encoder runs one intra-op
    thread per call and releases the GIL while it computes (index/embed.py), FAISS searches a
    read-only index, the keyword search's stemmer is locked (index/lexical.py), and a reload
    swaps one reference (lifecycle/live.py). The workers keep it off the event loop, serve the
    chat and the API in arrival order, and let waiting requests queue without holding a thread
    each; one per core, not more, so the questions in hand are not slowed by each other.

    The queue is bounded twice, so that a surge gets quick refusals (ServerBusy, a 503) and the
    server recovers as soon as it ends: at most `max_waiting` questions wait (the next is refused
    at once), and a question that waited MAX_WAIT_SECONDS is refused when its turn comes.
    """

    def __init__(self, assistant: Assistant, *, max_waiting: int, workers: int) -> None:
        self._assistant = assistant
        self._max_waiting = max_waiting
        self._waiting = 0  # changed on the event loop only
        self._worker = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assistant-ask")

    async def ask(self, question: str, history: list[dict[str, str]]) -> Answer:
        started = time.perf_counter()
        if self._waiting >= self._max_waiting:
            log.warning("busy: %d questions waiting, one refused", self._waiting)
            raise ServerBusy
        self._waiting += 1
        try:
            answer = await asyncio.wrap_future(self._worker.submit(self._answer_in_turn, question, history, started))
        except ServerBusy:
            log.warning("busy: a question waited %.1f s for its turn and was refused", MAX_WAIT_SECONDS)
            raise
        except Exception as error:
            # Where it failed, without the exception's message: that may quote the question.
            frames = "".join(traceback.format_tb(error.__traceback__))
            log.error("ask failed: %s after %d ms\n%s", type(error).__name__, _ms_since(started), frames)
            raise
        finally:
            self._waiting -= 1
        log.info(
            "answered: %d characters, %d earlier messages -> %d passages, abstained=%s, urgent=%s, %d ms",
            len(question), len(history), len(answer.passages), answer.abstained, answer.urgent, _ms_since(started),
        )
        return answer

    def _answer_in_turn(self, question: str, history: list[dict[str, str]], queued: float) -> Answer:
        if time.perf_counter() - queued > MAX_WAIT_SECONDS:
            raise ServerBusy
        return self._assistant.ask(question, history)

    async def run(self, work: Callable[..., Any], *args: Any) -> Any:
        """Other work with the model (grouping the gaps log for the staff console), on the same
        workers, so it takes a turn like a question instead of a third core. Not bounded: staff only."""
        return await asyncio.wrap_future(self._worker.submit(work, *args))

    def health(self) -> dict[str, Any]:
        return self._assistant.health()

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)

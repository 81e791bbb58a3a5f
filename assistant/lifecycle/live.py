"""The Assistant a server answers with, following the index: a new build is served without a restart.

A thread looks every `interval` seconds at where `index/current` points (one readlink). When a
build or a rollback has moved it, the new build is loaded beside the one being served, reusing
the loaded model, and then one reference is swapped. Each question reads that reference once, as
it starts: a question already being answered finishes on the index it started with, the next one
gets the new index, and no question waits for the load. If the new build cannot be loaded, the
old one goes on serving and the failure is logged, once.

Entry point: `LiveAssistant(settings, assistant)`, then `ask()` and `health()` as an Assistant.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from assistant.answer import Assistant
from assistant.config import Settings
from assistant.index.store import IndexNotReady, current_build
from assistant.types import Answer

log = logging.getLogger(__name__)

# Seconds between two looks at index/current: a new build is served within this much of its
# publication; each look costs one readlink.
RELOAD_INTERVAL = 2.0


class LiveAssistant:
    def __init__(self, settings: Settings, assistant: Assistant, *, interval: float = RELOAD_INTERVAL) -> None:
        self._settings = settings
        self._assistant = assistant
        self._failed: Path | None = None  # a build that would not load: not tried again
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(interval,), name="index-reload", daemon=True)
        self._watcher.start()

    @property
    def assistant(self) -> Assistant:
        return self._assistant

    def ask(self, question: str, history: Sequence[dict] | None = None) -> Answer:
        return self._assistant.ask(question, history)

    def health(self) -> dict:
        assistant = self._assistant
        return {**assistant.health(), "build": assistant.retriever.index.path.name}

    def reload_if_changed(self) -> bool:
        """Load and serve the build `current` points to, if it is not the one served; True if swapped."""
        target = current_build(self._settings.index_dir)
        if target is None or target == self._assistant.retriever.index.path or target == self._failed:
            return False
        try:
            fresh = Assistant.load(self._settings, embedder=self._assistant.retriever.embedder)
        except (IndexNotReady, OSError) as error:
            self._failed = target
            log.error("new index not loaded, still serving %s: %s", self._assistant.retriever.index.path.name, error)
            return False
        previous, self._assistant = self._assistant, fresh
        log.info("now serving index build %s (was %s)", fresh.retriever.index.path.name,
                 previous.retriever.index.path.name)
        return True

    def close(self) -> None:
        self._stop.set()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.reload_if_changed()
            except Exception:  # the watcher must outlive any one bad build
                log.exception("index reload failed")

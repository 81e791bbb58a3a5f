"""Who changed which document, and when: the staff console's uploads, replacements and removals,
and the pages a crawl brought in. One JSON line per change, appended; never a document's text.

    log = ChangeLog.beside(index_dir)  # index/staff-changes.jsonl
    log.record("j.smith", "uploaded", "liver.pdf")
    log.latest()  ->  {"liver.pdf": Change(at=..., who="j.smith", action="uploaded", doc_id="liver.pdf")}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

ACTIONS = ("uploaded", "replaced", "deleted", "crawled", "removed by the crawl")


@dataclass(frozen=True)
class Change:
    at: str  # UTC, ISO 8601 to the second
    who: str
    action: str
    doc_id: str


FILE = "staff-changes.jsonl"


class ChangeLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, index_dir: Path) -> "ChangeLog":
        """The log in the index folder, which every server process of the clinic shares."""
        return cls(index_dir / FILE)

    def record(self, who: str, action: str, doc_id: str) -> Change:
        if action not in ACTIONS:
            raise ValueError(f"unknown change {action!r}")
        change = Change(datetime.now(timezone.utc).isoformat(timespec="seconds"), who, action, doc_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write of one line with O_APPEND: lines of processes writing at once do not mix.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(asdict(change), ensure_ascii=False) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
        return change

    def latest(self) -> dict[str, Change]:
        """Each document's last change."""
        latest: dict[str, Change] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return latest
        for line in lines:
            try:
                change = Change(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line cut short by a full disk: the others still count
            latest[change.doc_id] = change
        return latest

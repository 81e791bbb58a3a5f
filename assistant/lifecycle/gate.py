"""The quality gate: questions the index must still answer from the right document.

A check file is plain text, one check per line: the question, a tab, and the document (its path
under corpus/) that must be among the passages shown for it. Blank lines and lines starting
with `#` are ignored:

    # question<TAB>document
    Where does breast cancer usually spread?<TAB>breast.pdf

`build --check FILE` asks each question of the staged build with the real Assistant, before it
is published; one miss and the build is not published (the served index stays).

Entry points: `read_checks(path) -> list[Check]`, `failed_checks(assistant, checks) -> list[Failure]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    line: int
    question: str
    doc_id: str


@dataclass(frozen=True)
class Failure:
    check: Check
    shown: tuple[str, ...]  # the documents of the passages that were shown instead

    def describe(self) -> str:
        found = ", ".join(self.shown) if self.shown else "no passage (the assistant declined)"
        return f"line {self.check.line}: {self.check.question!r} should find {self.check.doc_id}; it showed {found}"


class CheckFileError(ValueError):
    """The check file cannot be read; the message names the file and line."""


class ChecksFailed(RuntimeError):
    """The staged index missed checks; it was not published."""

    def __init__(self, failures: list[Failure], total: int, source: str) -> None:
        self.failures = failures
        lines = [f"The new index was not published: {len(failures)} of {total} checks in {source} failed."]
        lines += [f"  {failure.describe()}" for failure in failures]
        lines.append("The index being served was left as it was. Fix the documents, or the check file if a "
                     "document was removed on purpose.")
        super().__init__("\n".join(lines))


def read_checks(path: Path) -> list[Check]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CheckFileError(f"Cannot read the check file {path}: {error.strerror}.") from None
    checks = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        question, tab, doc_id = line.rpartition("\t")
        if not tab or not question.strip() or not doc_id.strip():
            raise CheckFileError(f"{path} line {number}: write the question, a tab, then the document "
                                 "it must find (its path under corpus/).")
        checks.append(Check(number, question.strip(), doc_id.strip()))
    return checks


def failed_checks(assistant, checks: list[Check]) -> list[Failure]:
    """The checks whose document is not among the passages `assistant` shows for the question."""
    failures = []
    for check in checks:
        shown = tuple(dict.fromkeys(p.doc_id for p in assistant.ask(check.question).passages))
        if check.doc_id not in shown:
            failures.append(Failure(check, shown))
    return failures

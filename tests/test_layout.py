"""The tree shows the pipeline: one folder per stage, and imports that run one way only.

Every import in assistant/ and ui/ is read (also those inside functions, which load heavy
parts late) and checked against the stage order below: a module may import its own folder and
any stage below it, never one above it nor a sibling stage beside it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A unit is a folder (assistant.index) or a top-level module (assistant.answer).
STAGES: tuple[tuple[str, ...], ...] = (
    # The vocabulary every stage shares: records, settings, fixed texts, the stage clock.
    ("assistant.types", "assistant.config", "assistant.texts", "assistant.timing"),
    ("assistant.documents",),
    ("assistant.index",),
    # Three services answering uses, independent of each other.
    ("assistant.search", "assistant.safety", "assistant.records"),
    ("assistant.answer", "assistant.render"),
    # Above answering: the build gate asks the new index questions; the live server swaps it.
    ("assistant.lifecycle",),
    ("assistant.evaluate",),
    ("ui",),
    # The program's entry point puts everything together, the web server among it.
    ("assistant.cli",),
)
STAGE_OF = {unit: rank for rank, units in enumerate(STAGES) for unit in units}


def unit_of(module: str) -> str | None:
    """The stage unit a dotted module name belongs to (None: not ours, e.g. numpy)."""
    parts = module.split(".")
    for length in (2, 1):
        name = ".".join(parts[:length])
        if name in STAGE_OF:
            return name
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every module `source` imports, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from assistant.index import store" imports the module assistant.index.store.
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def wrong_way_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Each import of `source` that points at a stage above its own, or at a sibling stage."""
    here = unit_of(module)
    problems = []
    for line, target in imported_modules(source, module, is_package):
        there = unit_of(target)
        if here is None or there is None or there == here:
            continue
        if STAGE_OF[there] >= STAGE_OF[here]:
            problems.append(f"{module} line {line} imports {target}: "
                            f"{there} is not below {here} in tests/test_layout.py STAGES")
    return problems


def our_modules() -> list[Path]:
    return sorted(p for folder in ("assistant", "ui") for p in (ROOT / folder).rglob("*.py"))


def test_every_module_belongs_to_a_stage():
    assert [module_name(p) for p in our_modules() if unit_of(module_name(p)) is None
            and module_name(p) != "assistant"] == []


def test_no_stage_imports_one_above_it_or_beside_it():
    problems = []
    for path in our_modules():
        problems += wrong_way_imports(path.read_text(encoding="utf-8"), module_name(path),
                                      path.name == "__init__.py")
    assert problems == []


@pytest.mark.parametrize("module, source", [
    ("assistant.index.store", "from assistant.answer import Assistant"),  # index -> answering
    ("assistant.documents.chunk", "def late():\n    from ..search import retrieve"),  # inside a function
    ("assistant.search.retrieve", "from assistant.safety.rules import assess_message"),  # a sibling stage
    ("assistant.answer", "import ui.app"),  # the library -> the web front end
])
def test_the_check_catches_an_import_the_wrong_way(module, source):
    assert len(wrong_way_imports(source, module)) == 1


def test_the_check_accepts_imports_down_and_within_a_folder():
    source = "from .lexical import STOPWORDS\nfrom assistant.types import Chunk\nfrom assistant.documents import chunk"
    assert wrong_way_imports(source, "assistant.index.store") == []


def test_each_stage_folder_says_what_it_takes_and_gives():
    folders = [p.parent for p in (ROOT / "assistant").glob("*/__init__.py")]
    assert {f.name for f in folders} >= {"documents", "index", "search", "safety", "lifecycle", "records"}
    for folder in folders:
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert docstring and "->" in docstring.splitlines()[0], f"{folder.name}/__init__.py: say 'takes -> gives'"


def test_only_the_export_imports_torch_and_only_ui_imports_the_web_stack():
    # The server encodes with ONNX Runtime (index/embed.py); torch makes the export only.
    # tests/test_embed.py checks that a server answers without torch loaded at all.
    export = {"assistant.index.export"}
    heavy = {"torch": export, "sentence_transformers": export, "transformers": export,
             "onnxruntime": {"assistant.index.embed", "assistant.index.export"}}
    for path in our_modules():
        module = module_name(path)
        for _, target in imported_modules(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top in heavy:
                assert module in heavy[top], f"{module} imports {top}"
            if top in ("gradio", "fastapi", "uvicorn", "starlette"):
                assert module.startswith("ui"), f"{module} imports {top}"

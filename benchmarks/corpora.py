"""The benchmark corpora: the seed pages, ~10,000 and ~100,000 passages, written as corpus folders.

    python benchmarks/corpora.py OUT_DIR [--sizes seed,10k,100k]

- seed: corpus/ as shipped (5 pages, ~76 passages).
- 10k:  development documents (shared/eval/dev: medquad_cancergov, liveqa_medquad, mediqa_qa), each
        once, until about 10,000 passages.
- 100k: every development document once, then again as republished by other sites of a hospital
        network ("<title> (Site 2)" ...), with its paragraphs in another order, until about
        100,000 passages. The site name in the title changes every passage's embedded text (the
        title is read with the passage), and the new order makes other passages of the same
        paragraphs: all passages are new texts to the model, while most sentences recur, as they
        do when pages copy each other.

Each document is a .txt file with a front-matter title, as staff would drop it into corpus/.
Sizes are estimated from the text length (about 800 characters per passage on these sets); the
build reports the real count.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval" / "dev"
DATASETS = ("medquad_cancergov", "liveqa_medquad", "mediqa_qa")  # medquad_cancergov_pages repeats the first
CHARACTERS_PER_PASSAGE = 800
TARGETS = {"10k": 10_000, "100k": 100_000}


def development_documents() -> list[dict]:
    documents = []
    for name in DATASETS:
        with (DEV / name / "docs.jsonl").open(encoding="utf-8") as handle:
            documents += [json.loads(line) for line in handle if line.strip()]
    return documents


def _file_name(doc_id: str, site: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", doc_id)
    return f"{stem}.txt" if site == 1 else f"site{site}-{stem}.txt"


def _republished(doc: dict, site: int) -> tuple[str, str]:
    """The document as network site `site` publishes it: its title names the site and its
    paragraphs are rotated by the site number."""
    if site == 1:
        return doc.get("title") or "", doc["text"]
    paragraphs = [p for p in re.split(r"\n\s*\n", doc["text"]) if p.strip()]
    turn = site % max(len(paragraphs), 1)
    title = f"{doc.get('title') or 'Patient information'} (Site {site})"
    return title, "\n\n".join(paragraphs[turn:] + paragraphs[:turn])


def write_corpus(out: Path, target_passages: int) -> int:
    """Write documents into `out` until their text makes about `target_passages`; the file count."""
    out.mkdir(parents=True, exist_ok=True)
    documents = development_documents()
    budget = target_passages * CHARACTERS_PER_PASSAGE
    written = files = 0
    site = 1
    while written < budget:
        for doc in documents:
            if written >= budget:
                break
            title, text = _republished(doc, site)
            (out / _file_name(str(doc["id"]), site)).write_text(f"---\ntitle: {title}\n---\n{text}\n", encoding="utf-8")
            written += len(text)
            files += 1
        site += 1
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sizes", default="seed,10k,100k")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        target = args.out / size
        if target.exists():
            shutil.rmtree(target)
        if size == "seed":
            shutil.copytree(ROOT / "corpus", target)
            print(f"seed: {target}")
        else:
            print(f"{size}: {write_corpus(target, TARGETS[size])} files in {target}")


if __name__ == "__main__":
    main()

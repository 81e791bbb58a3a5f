"""The learnt urgency signal: emergencies worded in ways the rule file has never seen.

The rule file (rules.txt) catches what its author foresaw: on messages written by someone else
it caught about half. This second signal generalises from many written examples instead of one
author's phrase lists: a multinomial logistic regression on the message's MiniLM vector, with
one class per urgent category (spinal cord compression, fever on chemotherapy, overdose ...)
and one for "not urgent", learnt from the team-written bank urgency_examples.txt (about 800
urgent and 800 look-alike messages, by category). Its probability that a message is urgent is
one minus that of the "not urgent" class; urgency.py turns it into a tier beside the rules.

Why one class per category and not one "urgent" class: urgent messages are many separate
clusters (legs that will not move, a temperature on chemotherapy, a wish to die); one linear
direction for all of them placed "sometimes I think about killing myself" on the calm side
(0.09). On the rule file's own sets (words this bank's author did not write), with an early
version of the bank, the multinomial model found 82% of the urgent messages at probability 0.9
(2.1% false alarms), the binary one 69% (3.4%).

Long messages: a mean over every word of a long message dilutes one urgent sentence among
unrelated questions (on made-up long messages the urgent share found fell from 91% to 30%).
So each sentence is scored too, its vector the mean of its own words' token vectors from the
SAME forward pass (Embedder.encode_with_sentences): no second encoding, and the message's
probability is the highest of the whole and its sentences.

Explainable: the verdict names the nearest urgent example of the winning category (its id,
e.g. "scc-014"), never the message.

Deterministic (lbfgs from zeros on the same vectors) and quick: the bank encodes in about
6 s on one core, the fit takes about 1 s. The weights are stored in urgency_weights.npz with
the model name and a sha256 of the bank; when either differs (staff added an example, or
MODEL_PATH points at another model) they are learnt again at start-up.

Entry points: `UrgencyModel.load(embedder, model_name)`, then `model.assess(vector, sentences)`;
`python -m assistant.safety.learnt` refreshes urgency_weights.npz.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).with_name("urgency_examples.txt")
WEIGHTS = Path(__file__).with_name("urgency_weights.npz")
LABELS = ("urgent", "not_urgent")
NOT_URGENT = "not_urgent"  # the one class of every not-urgent example, whatever its category
# The inverse strength of the L2 penalty: chosen on the rule file's own sets (tests/data/safety/)
# and cross-validation on the bank, never on the check set; 10 to 100 moved the figures by a
# point or two.
C = 30.0

_SECTION = re.compile(r"^\[(urgent|not_urgent) ([a-z_]+)\]$")
_EXAMPLE = re.compile(r"^([a-z][a-z0-9-]*\d)\s*\|\s*(.+)$")


class ExamplesError(ValueError):
    """The example bank cannot be read; the message names the line and what to fix."""


@dataclass(frozen=True)
class Example:
    id: str  # e.g. "scc-014": what logs and the API name, never the text
    label: str  # "urgent" | "not_urgent"
    category: str  # e.g. "spinal_cord_compression", "trigger_words"
    text: str


@dataclass(frozen=True)
class LearntVerdict:
    """What the learnt signal says of one message. Holds no message text."""

    probability: float  # that the message describes an emergency happening now
    category: str | None  # the most likely urgent category
    nearest: str | None  # id of the nearest urgent example of that category


def read_examples(path: Path = EXAMPLES) -> list[Example]:
    examples: list[Example] = []
    seen: set[str] = set()
    section: tuple[str, str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            match = _SECTION.match(line)
            if not match:
                raise ExamplesError(f"{path} line {number}: write a section as [urgent <category>] or "
                                    "[not_urgent <category>].")
            section = (match.group(1), match.group(2))
            continue
        match = _EXAMPLE.match(line)
        if section is None or not match:
            raise ExamplesError(f"{path} line {number}: write an example as '<id> | <message>' under a "
                                "[urgent ...] or [not_urgent ...] section.")
        if match.group(1) in seen:
            raise ExamplesError(f"{path} line {number}: the id {match.group(1)} is used twice; give this "
                                "example the next free number of its category.")
        seen.add(match.group(1))
        examples.append(Example(match.group(1), section[0], section[1], match.group(2)))
    if {e.label for e in examples} != set(LABELS):
        raise ExamplesError(f"{path}: both urgent and not_urgent examples are needed.")
    return examples


def examples_hash(path: Path = EXAMPLES) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _class_of(example: Example) -> str:
    return example.category if example.label == "urgent" else NOT_URGENT


def fit(vectors: np.ndarray, classes: list[str], c: float = C) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Weights (dimension x classes), intercepts and class names of the multinomial regression."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000, tol=1e-6)
    model.fit(np.asarray(vectors, dtype=np.float64), classes)
    return (model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32),
            tuple(str(name) for name in model.classes_))


class UrgencyModel:
    """The learnt regression, and the urgent examples' vectors to name the nearest one."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, classes: tuple[str, ...],
                 example_vectors: np.ndarray, example_ids: tuple[str, ...], example_classes: tuple[str, ...]) -> None:
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.classes = tuple(classes)
        self.none_column = self.classes.index(NOT_URGENT)
        self.example_vectors = np.asarray(example_vectors, dtype=np.float32)
        self.example_ids = tuple(example_ids)
        self.example_classes = np.asarray(example_classes)

    @classmethod
    def learn(cls, embedder, path: Path = EXAMPLES) -> "UrgencyModel":
        examples = read_examples(path)
        vectors = embedder.encode([e.text for e in examples])
        weights, bias, classes = fit(vectors, [_class_of(e) for e in examples])
        urgent = [i for i, e in enumerate(examples) if e.label == "urgent"]
        return cls(weights, bias, classes, vectors[urgent], tuple(examples[i].id for i in urgent),
                   tuple(examples[i].category for i in urgent))

    @classmethod
    def load(cls, embedder, model_name: str, *, examples: Path = EXAMPLES, weights: Path = WEIGHTS) -> "UrgencyModel":
        """The stored weights if they were learnt for this model from this bank; else learn them."""
        stored = read_weights(weights)
        if stored and stored.pop("model") == model_name and stored.pop("examples") == examples_hash(examples) \
                and stored["weights"].shape[0] == embedder.dimension:
            return cls(**stored)
        log.info("urgency: learning from %s (the stored weights are for another bank or another model)",
                 examples.name)
        return cls.learn(embedder, examples)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Each class's probability for each row of `vectors` (rows x classes)."""
        logits = np.atleast_2d(vectors) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        odds = np.exp(logits)
        return odds / odds.sum(axis=1, keepdims=True)

    def assess(self, vector: np.ndarray, sentences: np.ndarray | None = None) -> LearntVerdict:
        """The verdict on a message from its vector and, for a message of several sentences, its
        sentences' vectors: the most urgent of them decides."""
        rows = np.vstack([vector[None, :]] + ([sentences] if sentences is not None and len(sentences) else []))
        probabilities = self.probabilities(rows)
        urgent = 1.0 - probabilities[:, self.none_column]
        row = int(np.argmax(urgent))
        by_class = probabilities[row].copy()
        by_class[self.none_column] = -1.0
        category = self.classes[int(np.argmax(by_class))]
        of_category = np.flatnonzero(self.example_classes == category)
        nearest = None
        if len(of_category):
            nearest = self.example_ids[int(of_category[np.argmax(self.example_vectors[of_category] @ rows[row])])]
        return LearntVerdict(float(urgent[row]), category, nearest)


def read_weights(path: Path = WEIGHTS) -> dict | None:
    """The stored model with the model name and bank hash it was learnt for; None if unreadable."""
    try:
        with np.load(path) as stored:
            return {
                "weights": stored["weights"], "bias": stored["bias"], "classes": tuple(stored["classes"].tolist()),
                "example_vectors": stored["example_vectors"].astype(np.float32),
                "example_ids": tuple(stored["example_ids"].tolist()),
                "example_classes": tuple(stored["example_classes"].tolist()),
                "model": str(stored["model"]), "examples": str(stored["examples"]),
            }
    except (OSError, KeyError, ValueError):
        return None


def write_weights(embedder, model_name: str, *, examples: Path = EXAMPLES, path: Path = WEIGHTS) -> UrgencyModel:
    model = UrgencyModel.learn(embedder, examples)
    # float16 example vectors: they only name the nearest example (cosines move ~0.001).
    np.savez_compressed(
        path, weights=model.weights, bias=model.bias, classes=np.array(model.classes),
        example_vectors=model.example_vectors.astype(np.float16), example_ids=np.array(model.example_ids),
        example_classes=np.array(model.example_classes), model=np.str_(model_name),
        examples=np.str_(examples_hash(examples)),
    )
    return model


if __name__ == "__main__":
    from assistant.config import Settings
    from assistant.index.embed import load_embedder

    settings = Settings.from_env()
    write_weights(load_embedder(settings, threads=settings.build_threads), settings.model_name)
    print(f"wrote {WEIGHTS} for {settings.model_name} from {EXAMPLES.name}")

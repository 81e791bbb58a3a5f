"""Is a question about health at all? The topic check that runs beside the passage score.

How well the best passage matches cannot tell every off-topic question from a real one: a
broad health corpus has a drug page on sodium bicarbonate, and "What is the difference between
baking soda and baking powder?" matches it better (fused score 0.88) than many patients'
questions match their answers (0.55). So a second, independent signal looks at the question
alone: a logistic regression on the question's vector, learnt from team-written examples of
health questions and everyday ones (scope_examples.txt). A question it places on the everyday
side (probability above one half) is declined however well a passage matches.

Why a regression and not the nearest example: `benchmarks/scope_eval.py` prints the share of
each set called everyday, by the regression and by two nearest-example rules. The dev sets' 294
distinct questions and their 12 off-topic ones, the 50 seed questions and the team's tuning sets
(18 in scope, 60 off topic) were looked at while the rule was chosen; the held-out sets (40 in
scope, 40 off topic, benchmarks/scope/) were written after the examples were fixed:

    share called everyday              dev in  dev off  seed  tuning in/off  held-out in/off
    nearest everyday - nearest health   0.000   0.917   0.000  0.000 / 0.950  0.000 / 0.875
    mean of the 3 nearest, each side    0.000   0.917   0.000  0.000 / 0.967  0.000 / 0.850
    logistic regression (this module)   0.003   1.000   0.000  0.000 / 1.000  0.000 / 0.950

The nearest-example rules miss questions whose subject no example shares ("houseplant leaves
turning yellow"); the regression learns directions in the vector space (cooking, money,
devices ...) rather than single neighbours. Its one dev miss is "how do i stop using
rasagiline", a drug the model does not know; its held-out misses are "Who discovered
penicillin?" and "What should I write in a sympathy card?", which the passage score still
declines on a cancer corpus.

The regression is L2-regularised with C = 1 (the usual default; 0.3 to 10 moved the dev
figures by at most one question) and solved exactly by Newton's method: 209 examples, 385
unknowns, about 20 ms. Its weights are stored in scope_weights.npz with the model and a
hash of the examples they were learnt from; when either differs (a clinic added examples, or
MODEL_PATH points at another model) they are learnt again at start-up, which encodes the
examples (about 0.8 s on one thread).

Entry points: `TopicCheck.load(embedder, model_name)`, then `check.is_everyday(vector)`;
`python -m assistant.search.scope` refreshes scope_weights.npz.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).with_name("scope_examples.txt")
WEIGHTS = Path(__file__).with_name("scope_weights.npz")
SECTIONS = ("health", "everyday")
# The inverse strength of the L2 penalty (see the module docstring).
C = 1.0


class ExamplesError(ValueError):
    """The examples file cannot be read; the message names the line."""


def read_examples(path: Path = EXAMPLES) -> dict[str, list[str]]:
    """{"health": [...], "everyday": [...]} from the examples file."""
    examples: dict[str, list[str]] = {name: [] for name in SECTIONS}
    section = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            if section not in examples:
                raise ExamplesError(f"{path} line {number}: unknown section [{section}]; use [health] or [everyday].")
        elif section is None:
            raise ExamplesError(f"{path} line {number}: put the question under [health] or [everyday].")
        else:
            examples[section].append(line)
    if not all(examples.values()):
        raise ExamplesError(f"{path}: both [health] and [everyday] need examples.")
    return examples


def examples_hash(path: Path = EXAMPLES) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = C) -> tuple[np.ndarray, float]:
    """Weights and intercept minimising |w|^2 / 2 + c * sum(log loss); the intercept is not
    penalised. Newton's method: the problem is small and convex, so it converges in a few steps."""
    design = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    penalty = np.full(design.shape[1], 1.0 / c)
    penalty[-1] = 0.0
    w = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1].astype(np.float32), float(w[-1])


def learn(embedder, path: Path = EXAMPLES) -> tuple[np.ndarray, float]:
    examples = read_examples(path)
    x = embedder.encode(examples["health"] + examples["everyday"])
    y = np.r_[np.zeros(len(examples["health"])), np.ones(len(examples["everyday"]))]
    return fit_logistic(x, y)


class TopicCheck:
    """Places a question's vector on the health or the everyday side."""

    def __init__(self, weights: np.ndarray, bias: float) -> None:
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = float(bias)

    @classmethod
    def load(cls, embedder, model_name: str, *, examples: Path = EXAMPLES, weights: Path = WEIGHTS) -> "TopicCheck":
        """The stored weights if they were learnt for this model from these examples; else learn them."""
        stored = read_weights(weights)
        if stored and stored["model"] == model_name and stored["examples"] == examples_hash(examples) \
                and len(stored["weights"]) == embedder.dimension:
            return cls(stored["weights"], stored["bias"])
        log.info("topic check: learning from %s (the stored weights are for other examples or another model)",
                 examples.name)
        return cls(*learn(embedder, examples))

    def everyday_margin(self, vectors: np.ndarray) -> np.ndarray:
        """Log-odds that a question is about everyday life rather than health (> 0: everyday),
        for one vector (a scalar) or a matrix of them (one per row)."""
        return vectors @ self.weights + self.bias

    def is_everyday(self, vector: np.ndarray) -> bool:
        return bool(self.everyday_margin(vector) > 0.0)


def read_weights(path: Path = WEIGHTS) -> dict | None:
    """The stored weights with the model and examples hash they were learnt for; None if unreadable."""
    try:
        with np.load(path) as stored:
            return {"weights": stored["weights"], "bias": float(stored["bias"]), "model": str(stored["model"]),
                    "examples": str(stored["examples"])}
    except (OSError, KeyError, ValueError):
        return None


def write_weights(embedder, model_name: str, *, examples: Path = EXAMPLES, path: Path = WEIGHTS) -> None:
    weights, bias = learn(embedder, examples)
    np.savez(path, weights=weights, bias=np.float64(bias), model=np.str_(model_name),
             examples=np.str_(examples_hash(examples)))


if __name__ == "__main__":
    from assistant.config import Settings
    from assistant.index.embed import load_embedder

    settings = Settings.from_env()
    write_weights(load_embedder(settings, threads=settings.build_threads), settings.model_name)
    print(f"wrote {WEIGHTS} for {settings.model_name} from {EXAMPLES.name}")

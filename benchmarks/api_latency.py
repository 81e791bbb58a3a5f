"""Median and p95 latency of POST /api/ask against a running server, one client at a time.

    RATE_LIMIT_PER_MINUTE=0 clinic-assistant serve &    # the default limit would answer 429s
    python benchmarks/api_latency.py [BASE_URL] [--questions FILE] [--rounds N]

Prints the figures; asserts nothing (timings belong in benchmarks, never in tests).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:7860")
    parser.add_argument("--questions", type=Path, default=HERE / "seed_questions.txt")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions; the median of each is shown")
    args = parser.parse_args()
    questions = [q for q in args.questions.read_text(encoding="utf-8").splitlines() if q.strip()]
    with httpx.Client(base_url=args.base_url, timeout=30) as client:
        client.post("/api/ask", json={"question": questions[0]})  # warm-up: first-call costs are not the steady state
        medians, p95s, errors = [], [], 0
        for _ in range(args.rounds):
            timings = []
            for question in questions:
                started = time.perf_counter()
                response = client.post("/api/ask", json={"question": question})
                timings.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200
            timings.sort()
            medians.append(statistics.median(timings))
            p95s.append(timings[int(0.95 * (len(timings) - 1))])
    print(f"questions: {len(questions)} x {args.rounds} rounds, errors: {errors}")
    print(f"/api/ask median ms per round: {', '.join(f'{m:.1f}' for m in medians)}  -> median {statistics.median(medians):.1f}")
    print(f"/api/ask p95 ms per round:    {', '.join(f'{p:.1f}' for p in p95s)}  -> median {statistics.median(p95s):.1f}")


if __name__ == "__main__":
    main()

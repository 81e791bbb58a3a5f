"""The widget's first open: bytes over the wire and time from the click on the launcher until
the chat is ready (its question box is there), each with an empty browser cache.

    python benchmarks/widget_first_open.py [--index INDEX_DIR] [--runs 7]

Serves the assistant on 127.0.0.1 from a built index (default: INDEX_DIR, else index/) and a
plain clinic page that includes widget.js on 127.0.0.2, and drives Debian's Chromium (the test
suite's live environment). Prints the figures; asserts nothing (timings belong in benchmarks,
never in tests).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assistant.config import Settings  # noqa: E402
from tests.live_server import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    ClinicSite,
    clinic_page,
    running_server,
)

# Times the click and the launcher's "ready" in the page itself, free of the driver's delays.
STOPWATCH = """
window.widgetTimes = {};
document.addEventListener("click", () => { widgetTimes.click ??= performance.now(); }, true);
new MutationObserver(() => {
  const host = document.getElementById("clinic-assistant");
  if (host && host.dataset.state === "ready") widgetTimes.ready ??= performance.now();
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="a built index folder [default: INDEX_DIR or index]")
    parser.add_argument("--runs", type=int, default=7, help="first opens, each in a fresh browser context")
    args = parser.parse_args()

    with ClinicSite("127.0.0.2") as site, sync_playwright() as playwright:
        settings = Settings.from_env().with_(allowed_origins=(site.origin,), rate_limit_per_minute=0)
        if args.index:
            settings = settings.with_(index_dir=args.index)
        with running_server(settings) as assistant:
            site.pages["/"] = clinic_page(f'<script src="{assistant}/widget.js" defer></script>')
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            runs = [first_open(browser, site.origin) for _ in range(args.runs)]
            browser.close()

    for number, run in enumerate(runs, start=1):
        print(f"run {number}: {run['ms']:.0f} ms, {run['bytes'] / 1024:.0f} KiB in {run['requests']} requests "
              f"(page load before the click: {run['before'] / 1024:.1f} KiB)")
    print(f"click to ready, median of {len(runs)}: {statistics.median(r['ms'] for r in runs):.0f} ms")
    print(f"transferred from click to ready, median: {statistics.median(r['bytes'] for r in runs) / 1024:.0f} KiB "
          f"in {statistics.median(r['requests'] for r in runs):.0f} requests")
    print(f"widget.js and the rest of the site's page before the click: {runs[0]['before'] / 1024:.1f} KiB")


def first_open(browser, site: str) -> dict:
    """One first open in a new context (empty cache): ms from click to ready, and the bytes
    (headers and encoded bodies, as received) of every request finished in between."""
    context = browser.new_context()
    context.add_init_script(STOPWATCH)
    page = context.new_page()
    finished: list = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(site)
    page.wait_for_load_state("networkidle")
    before = sum(_wire_bytes(request) for request in finished)
    finished.clear()

    page.get_by_role("button", name="Ask a question").click()
    page.wait_for_function("window.widgetTimes.ready !== undefined", timeout=60_000)
    times = page.evaluate("window.widgetTimes")
    # Only what the chat needed to be ready: requests that ended by then (page.on events carry
    # no timestamps, so compare with the request's own timing, relative to its start).
    ready = _epoch_ms(page, times["ready"])
    needed = [r for r in finished if r.timing["startTime"] + r.timing["responseEnd"] <= ready]
    run = {
        "ms": times["ready"] - times["click"],
        "bytes": sum(_wire_bytes(request) for request in needed),
        "requests": len(needed),
        "before": before,
    }
    context.close()
    return run


def _wire_bytes(request) -> int:
    # Request and response headers and bodies, bodies as received (compressed).
    return sum(request.sizes().values())


def _epoch_ms(page, performance_ms: float) -> float:
    """A performance.now() time of the page as milliseconds since the epoch, like request timings."""
    return page.evaluate("(t) => performance.timeOrigin + t", performance_ms)


if __name__ == "__main__":
    main()

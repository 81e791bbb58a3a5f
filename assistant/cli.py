"""`clinic-assistant`: build the index, ask from the terminal, serve the chat, show the index.

Heavy imports (torch, gradio) happen inside the commands, so `--help` is instant. Expected
failures print one sentence that says what to do, and exit 1; never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from .config import Settings, SettingsError


def _settings(corpus: Path | None = None, index: Path | None = None) -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    changes = {}
    if corpus is not None:
        changes["corpus_dir"] = corpus
    if index is not None:
        changes["index_dir"] = index
    return settings.with_(**changes) if changes else settings


def _fail_cleanly(function):
    """Turn the errors we expect into one sentence on stderr."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from assistant.index.embed import ModelNotFound
        from assistant.index.store import IndexNotReady

        from .evaluate import DatasetError

        try:
            return function(*args, **kwargs)
        except (IndexNotReady, ModelNotFound, FileNotFoundError, SettingsError, DatasetError) as error:
            raise click.ClickException(str(error)) from None

    return wrapper


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (never the question text).")
def main(verbose: bool) -> None:
    """Answer patients' questions with cited passages from the clinic's own documents.

    \b
    Example:
      clinic-assistant build
      clinic-assistant ask "Where does breast cancer usually spread?"
      clinic-assistant serve
      clinic-assistant eval ../shared/eval/dev/medquad_cancergov
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--corpus", type=click.Path(path_type=Path), help="Folder of documents [default: corpus].")
@click.option("--index", type=click.Path(path_type=Path), help="Index folder to write [default: index].")
@click.option("--if-stale", is_flag=True, help="Build only when the index is missing or out of date.")
@click.option("--full", is_flag=True, help="Embed every document again, not only new and changed ones.")
@click.option("--check", "check_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Questions the new index must answer from their document (question<TAB>document per line); "
                   "if one fails, the new index is not served [default: checks.tsv in the corpus folder, if any].")
@click.option("--no-check", is_flag=True, help="Publish without asking the check questions.")
@click.option("--wait", is_flag=True, help="If another build is running, wait for it instead of stopping.")
@click.option("--by", help="Who asked for this build, shown in the staff console [default: command line (your user name)].")
@click.option("--cluster", help="Read, chunk and embed on a Dask cluster: 'local' (one worker process per core here) "
                                "or a scheduler, tcp://HOST:PORT [default: $DASK_SCHEDULER_ADDRESS, else no cluster]. "
                                "Needs pip install 'clinic-assistant[cluster]'.")
@_fail_cleanly
def build(corpus: Path | None, index: Path | None, if_stale: bool, full: bool, check_file: Path | None,
          no_check: bool, wait: bool, by: str | None, cluster: str | None) -> None:
    """Bring the search index up to date with the documents in the corpus folder.

    Only new and changed documents are read and embedded; removed ones leave the index. Files
    that cannot be used are listed with the reason and skipped. The index being served stays
    untouched until the new one is complete and has passed the check questions; a running
    server switches to it by itself.

    \b
    Example:
      clinic-assistant build
      clinic-assistant build --full --check corpus/checks.tsv
      clinic-assistant build --cluster tcp://scheduler.internal:8786
    """
    import os
    from contextlib import nullcontext

    from assistant.documents.load import CHECKS_FILE
    from assistant.lifecycle.build import build_index, index_is_stale
    from assistant.lifecycle.gate import CheckFileError, ChecksFailed, read_checks
    from assistant.lifecycle.lock import BuildLocked
    from assistant.lifecycle.progress import Progress
    from assistant.lifecycle.status import StatusProgress, status_path

    settings = _settings(corpus, index)
    if if_stale and not index_is_stale(settings):
        click.echo(f"The index in {settings.index_dir}/ is up to date.")
        return
    # The corpus's own check file by default: staff who run a plain `build` are protected too.
    check_file = check_file or (None if no_check or not (settings.corpus_dir / CHECKS_FILE).exists()
                                else settings.corpus_dir / CHECKS_FILE)
    try:
        checks = read_checks(check_file) if check_file else []
        # Also written to index/.build-status.json, for the staff console to show.
        progress = StatusProgress(status_path(settings.index_dir, "build"), by=by or _command_line_user(),
                                  checks=len(checks), tee=Progress.to_stderr())
        with _dask_build(cluster or os.environ.get("DASK_SCHEDULER_ADDRESS"), settings) or nullcontext() as on_cluster:
            report = build_index(settings, full=full, checks=checks, check_source=str(check_file), wait=wait,
                                 progress=progress, cluster=on_cluster)
    except (BuildLocked, CheckFileError, ChecksFailed) as error:
        raise click.ClickException(str(error)) from None
    except FileNotFoundError:
        raise  # no corpus folder: its own sentence, from _fail_cleanly
    except OSError as error:  # a full disk, a folder we may not write: the served index is intact
        raise click.ClickException(
            f"The build stopped: {error.strerror or error} ({error.filename or settings.index_dir}). "
            "The index being served was left as it was; fix this and run the build again."
        ) from None
    for line in report.summary_lines():
        click.echo(line)
    if checks and report.published:  # nothing changed: no new build, so no questions were asked
        click.echo(f"  all {len(checks)} check questions in {check_file} found their document")


def _dask_build(address: str | None, settings):
    """The cluster a build runs on (a context manager), or None to build here alone. Dask is
    imported only now: without --cluster nothing imports it."""
    if not address:
        return None
    try:
        from assistant.lifecycle.cluster import dask_build
    except ImportError:
        raise click.ClickException("Building on a cluster needs Dask: pip install 'clinic-assistant[cluster]'.") from None
    return dask_build(address, settings)


def _command_line_user() -> str:
    import getpass

    try:
        return f"command line ({getpass.getuser()})"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "command line"


@main.command()
@click.argument("url")
@click.option("--sitemap", help="The site's sitemap [default: the one robots.txt names, else /sitemap.xml].")
@click.option("--max-pages", default=200, show_default=True, type=click.IntRange(1, 100_000),
              help="Stop after fetching this many pages.")
@click.option("--corpus", type=click.Path(path_type=Path, file_okay=False), help="Folder of documents [default: corpus].")
@click.option("--delay", default=1.0, show_default=True, type=click.FloatRange(0, 60),
              help="Seconds between two requests (longer if the site's robots.txt asks for it).")
@click.option("--by", help="Who asked for this crawl, shown in the staff console [default: command line (your user name)].")
@_fail_cleanly
def crawl(url: str, sitemap: str | None, max_pages: int, corpus: Path | None, delay: float, by: str | None) -> None:
    """Fetch the clinic's website into the corpus folder, for the next build.

    Only pages on the host of URL, as robots.txt allows, one request at a time. Each page is
    stored under web/<host>/ with its address in sources.csv, so citations link to the page. A
    second crawl asks only for what changed (ETag, Last-Modified) and rewrites only changed pages;
    a page the site no longer has is removed. Then run: clinic-assistant build

    \b
    Example:
      clinic-assistant crawl https://www.example-clinic.org/patient-information/
      clinic-assistant crawl https://www.example-clinic.org/ --sitemap https://www.example-clinic.org/sitemap.xml --max-pages 50
    """
    from dataclasses import replace

    from assistant.documents.crawl import CrawlError, crawl_site
    from assistant.lifecycle.lock import CrawlLocked, crawl_lock
    from assistant.lifecycle.status import DONE, FAILED, RUNNING, JobStatus, now, status_path, write_status
    from assistant.records.changes import ChangeLog

    settings = _settings(corpus)
    settings.corpus_dir.mkdir(parents=True, exist_ok=True)
    path = status_path(settings.index_dir, "crawl")
    status = JobStatus(kind="crawl", state=RUNNING, by=by or _command_line_user(), started_at=now(), stage=url)

    def on_page(page: str, outcome: str) -> None:
        nonlocal status
        status = replace(status, done=status.done + 1, lines=(status.lines + (f"{outcome}: {page}",))[-20:])
        write_status(path, status)
        click.echo(f"{outcome}: {page}", err=True)

    try:
        with crawl_lock(settings.corpus_dir):
            write_status(path, status)
            try:
                report = crawl_site(url, settings.corpus_dir, sitemap=sitemap, max_pages=max_pages, delay=delay,
                                    on_page=on_page)
            except CrawlError as error:
                write_status(path, replace(status, state=FAILED, finished_at=now(), lines=(str(error),)))
                raise click.ClickException(str(error)) from None
            write_status(path, replace(status, state=DONE, finished_at=now(), lines=tuple(report.summary_lines())))
            changes = ChangeLog.beside(settings.index_dir)
            for doc_id in report.new + report.changed:
                changes.record(status.by, "crawled", doc_id)
            for doc_id in report.removed:
                changes.record(status.by, "removed by the crawl", doc_id)
    except CrawlLocked as error:
        raise click.ClickException(str(error)) from None
    for line in report.summary_lines():
        click.echo(line)


@main.command("staff-password")
@click.option("--name", help="Print an accounts-file line for this person (NAME:HASH) instead of the hash alone.")
@click.option("--password", help="The password (asked for, twice, when not given; better, as it stays out of the "
                                   "shell's history).")
def staff_password(name: str | None, password: str | None) -> None:
    """Print the hash of a staff console password, for STAFF_PASSWORD_HASH or a STAFF_ACCOUNTS file.

    The password itself is never stored anywhere; the hash is scrypt with a random salt.

    \b
    Example:
      clinic-assistant staff-password                      # then: STAFF_PASSWORD_HASH='scrypt$...'
      clinic-assistant staff-password --name j.smith >> staff-accounts.txt
    """
    from ui.staff.accounts import AccountsError, account_line, hash_password

    if password is None:
        # Asked on stderr, so that `... >> staff-accounts.txt` gets the line and nothing else.
        password = click.prompt("Password for the staff console", hide_input=True, confirmation_prompt=True, err=True)
    try:
        click.echo(account_line(name, password) if name else hash_password(password))
    except AccountsError as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.option("--index", type=click.Path(path_type=Path), help="Index folder [default: index].")
@_fail_cleanly
def rollback(index: Path | None) -> None:
    """Serve the build before the current one again (the last two builds are kept).

    A running server switches to it by itself. The next `build` starts from it.

    \b
    Example:
      clinic-assistant rollback
    """
    from assistant.index.store import read_manifest
    from assistant.lifecycle.build import rollback_index
    from assistant.lifecycle.lock import BuildLocked

    settings = _settings(index=index)
    try:
        before, now = rollback_index(settings.index_dir)
    except BuildLocked as error:
        raise click.ClickException(str(error)) from None
    manifest = read_manifest(settings.index_dir)
    click.echo(f"Now serving the build {now.name} of {manifest.get('built_at')} "
               f"({manifest['counts']['documents']} documents, {manifest['counts']['chunks']} passages) "
               f"instead of {before.name if before else 'none'}.")


@main.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the HTTP API's JSON body instead.")
@click.option("--index", type=click.Path(path_type=Path), help="Index folder [default: index].")
@_fail_cleanly
def ask(question: str, as_json: bool, index: Path | None) -> None:
    """Ask one question and print exactly what the chat would answer.

    \b
    Example:
      clinic-assistant ask "What are the symptoms of bone metastases?"
      clinic-assistant ask --json "Where does breast cancer usually spread?"
    """
    from .answer import Assistant
    from .render import answer_to_dict, render_markdown, render_notice
    from .texts import DISCLAIMER, SERVICE_ERROR

    assistant = Assistant.load(_settings(index=index))
    try:
        answer = assistant.ask(question)
    except Exception as error:
        # As the API's 500: the fixed sentence and the disclaimer, the type only in the log
        # (an exception's message may quote the question).
        logging.getLogger(__name__).error("ask failed: %s", type(error).__name__)
        if as_json:
            click.echo(json.dumps({"error": SERVICE_ERROR, "disclaimer": DISCLAIMER}, ensure_ascii=False, indent=2))
        else:
            click.echo(render_notice(SERVICE_ERROR))
        raise SystemExit(1) from None
    if as_json:
        click.echo(json.dumps(answer_to_dict(answer), ensure_ascii=False, indent=2))
    else:
        click.echo(render_markdown(answer))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=7860, show_default=True, type=int, help="Port to listen on.")
@click.option("--index", type=click.Path(path_type=Path), help="Index folder [default: index].")
@_fail_cleanly
def serve(host: str, port: int, index: Path | None) -> None:
    """Serve the chat page, the widget and the HTTP API.

    \b
    Example:
      clinic-assistant serve --host 127.0.0.1 --port 7860
    """
    from concurrent.futures import ThreadPoolExecutor

    from assistant.answer import Assistant

    settings = _settings(index=index)
    # The index and the model load while Gradio is imported (about 2 s each on this machine's
    # cores, which are otherwise idle at start): the first answer comes that much sooner.
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-assistant")
    loading = loader.submit(Assistant.load, settings)
    loader.shutdown(wait=False)
    from ui.app import serve as serve_app

    serve_app(settings, host=host, port=port, loading=loading)


@main.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the figures to this JSON file (keys as printed, e.g. \"nDCG@10\").")
@click.option("--out-of-scope", type=click.Path(path_type=Path, dir_okay=False),
              help="JSONL of off-topic questions ({\"text\"}): also report how often it declines them, "
                   "and how often it wrongly declines the dataset's own questions.")
@click.option("--corpus", type=click.Path(path_type=Path, file_okay=False),
              help="For seed questions: the folder of documents they are about [default: corpus].")
@click.option("--show", is_flag=True, help="For seed questions: also list each one that failed, and why.")
@_fail_cleanly
def eval_(dataset: Path, out: Path | None, out_of_scope: Path | None, corpus: Path | None, show: bool) -> None:
    """Measure search on judged questions: a ranking dataset or seed questions.

    DATASET is either a folder with docs.jsonl, queries.jsonl, qrels.tsv (and optionally
    meta.json), measured by Recall@1/5/10, MRR@10, nDCG@10 and latency; or seed questions (a
    JSONL file, or a folder with questions.jsonl, each question with "evidence" and "answer"
    strings) about the documents in --corpus, measured by top-1, top-3, highlight holds the
    answer, declined and wrongly declined shares. The documents are indexed with the same
    pipeline as `build`, in a temporary folder that is removed afterwards; the served index is
    not touched.

    \b
    Example:
      clinic-assistant eval ../shared/eval/dev/medquad_cancergov --out figures.json
      clinic-assistant eval DATASET --out-of-scope ../shared/eval/dev/out_of_scope.jsonl
      clinic-assistant eval ../shared/eval/dev/seeds_qa --corpus corpus --show
    """
    from .evaluate import evaluate, evaluate_questions, format_figures, format_outcome

    progress = lambda message: click.echo(message, err=True)  # noqa: E731
    seed_questions = dataset.suffix == ".jsonl" or (dataset / "questions.jsonl").is_file()
    if not dataset.exists():
        raise click.ClickException(f"No dataset at {dataset}.")
    if seed_questions:
        corpus = corpus or _settings().corpus_dir
        figures, outcomes = evaluate_questions(dataset, corpus, _settings(), out_of_scope=out_of_scope,
                                               progress=progress)
        name = dataset.parent.name if dataset.is_file() else dataset.name
        if show:
            for outcome in outcomes:
                if not outcome.passed:
                    click.echo(format_outcome(outcome))
    else:
        if not dataset.is_dir():
            raise click.ClickException(f"No dataset folder at {dataset}/.")
        figures = evaluate(dataset, _settings(), out_of_scope=out_of_scope, progress=progress)
        name = dataset.name
    click.echo(format_figures(name, figures))
    if out is not None:
        out.write_text(json.dumps({"dataset": name, **figures}, indent=2) + "\n", encoding="utf-8")


@main.command()
@click.option("--index", type=click.Path(path_type=Path), help="Index folder [default: index].")
@_fail_cleanly
def info(index: Path | None) -> None:
    """Show what the index holds: model, chunk settings, documents, counts, build time.

    \b
    Example:
      clinic-assistant info --index index
    """
    from assistant.index.store import read_manifest

    settings = _settings(index=index)
    manifest = read_manifest(settings.index_dir)
    click.echo(f"Index:     {settings.index_dir}/ (format {manifest.get('schema_version')})")
    click.echo(f"Built:     {manifest.get('built_at')} in {manifest.get('build_seconds')} s")
    click.echo(f"Model:     {manifest['model']['name']} ({manifest['model']['dimension']} dimensions)")
    click.echo(f"Chunking:  {json.dumps(manifest.get('chunking', {}))}")
    counts = manifest.get("counts", {})
    click.echo(f"Counts:    {counts.get('documents')} documents, {counts.get('chunks')} passages, "
               f"{counts.get('skipped')} skipped")
    for doc_id, doc in sorted(manifest.get("documents", {}).items()):
        click.echo(f"  {doc_id}: {doc['chunks']} passages, {doc['title']!r}" + (f" <{doc['url']}>" if doc.get("url") else ""))
    for skipped in manifest.get("skipped", []):
        click.echo(f"  skipped {skipped['path']}: {skipped['reason']}")


@main.command()
@click.option("--index", type=click.Path(path_type=Path), help="Index folder [default: index].")
@_fail_cleanly
def feedback(index: Path | None) -> None:
    """Show the thumbs up/down votes per document (votes keep document ids, never text).

    \b
    Example:
      clinic-assistant feedback
    """
    from assistant.records.feedback import FeedbackStore

    settings = _settings(index=index)
    votes = FeedbackStore(settings.feedback_location).summary()
    if not votes:
        click.echo(f"No votes in {settings.resolved_feedback_db}.")
        return
    click.echo(f"{'up':>5} {'down':>5}  document")
    for row in votes:
        click.echo(f"{row.up:>5} {row.down:>5}  {row.doc_id or '(answer without passages)'}")


@main.command()
@click.option("--index", type=click.Path(path_type=Path), help="Index folder [default: index].")
@_fail_cleanly
def gaps(index: Path | None) -> None:
    """List the questions the documents did not answer, grouped by meaning, largest group first.

    Kept only when the server runs with GAPS_LOG=1, for GAPS_RETENTION_DAYS days (default 30).

    \b
    Example:
      GAPS_LOG=1 clinic-assistant serve
      clinic-assistant gaps
    """
    from assistant.records.gaps import GapsLog, group_questions

    settings = _settings(index=index)
    entries = GapsLog(settings.gaps_location, retention_days=settings.gaps_retention_days).entries()
    if not entries:
        state = "" if settings.gaps_log else " (GAPS_LOG is off: questions are not kept)"
        click.echo(f"No unanswered questions in the last {settings.gaps_retention_days} days{state}.")
        return
    from assistant.index.embed import load_embedder

    embedder = load_embedder(settings)
    for group in group_questions(entries, embedder):
        first, last = group.first.date().isoformat(), group.last.date().isoformat()
        click.echo(f"{len(group.gaps)} x  {first}" + (f" .. {last}" if last != first else ""))
        for gap in group.gaps:
            click.echo(f"    {gap.at.date().isoformat()}  {gap.question}")


if __name__ == "__main__":  # python -m assistant.cli
    sys.exit(main())

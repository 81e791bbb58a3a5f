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
        from .embed import ModelNotFound
        from .evaluate import DatasetError
        from .store import IndexNotReady

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
@_fail_cleanly
def build(corpus: Path | None, index: Path | None, if_stale: bool) -> None:
    """Build the search index from the documents in the corpus folder.

    Files that cannot be used are listed with the reason and skipped; the index that is being
    served stays untouched until the new one is complete.

    \b
    Example:
      clinic-assistant build --corpus corpus --index index
    """
    from .build import build_index, index_is_stale

    settings = _settings(corpus, index)
    if if_stale and not index_is_stale(settings):
        click.echo(f"The index in {settings.index_dir}/ is up to date.")
        return
    report = build_index(settings)
    for line in report.summary_lines():
        click.echo(line)


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
    from .render import answer_to_dict, render_markdown

    answer = Assistant.load(_settings(index=index)).ask(question)
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
    from ui.app import serve as serve_app

    serve_app(_settings(index=index), host=host, port=port)


@main.command("eval")
@click.argument("dataset_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the figures to this JSON file (keys as printed, e.g. \"nDCG@10\").")
@click.option("--out-of-scope", type=click.Path(path_type=Path, dir_okay=False),
              help="JSONL of off-topic questions ({\"text\"}): also report how often it declines them, "
                   "and how often it wrongly declines the dataset's own questions.")
@_fail_cleanly
def eval_(dataset_dir: Path, out: Path | None, out_of_scope: Path | None) -> None:
    """Measure search on a judged dataset: Recall@1/5/10, MRR@10, nDCG@10, latency.

    DATASET_DIR holds docs.jsonl, queries.jsonl, qrels.tsv (and optionally meta.json). Its
    documents are indexed with the same pipeline as `build`, in a temporary folder that is
    removed afterwards; the served index is not touched.

    \b
    Example:
      clinic-assistant eval ../shared/eval/dev/medquad_cancergov --out figures.json
      clinic-assistant eval DATASET --out-of-scope ../shared/eval/dev/out_of_scope.jsonl
    """
    from .evaluate import evaluate, format_figures

    if not dataset_dir.is_dir():
        raise click.ClickException(f"No dataset folder at {dataset_dir}/.")
    figures = evaluate(dataset_dir, _settings(), out_of_scope=out_of_scope,
                       progress=lambda message: click.echo(message, err=True))
    click.echo(format_figures(dataset_dir.name, figures))
    if out is not None:
        out.write_text(json.dumps({"dataset": dataset_dir.name, **figures}, indent=2) + "\n", encoding="utf-8")


@main.command()
@click.option("--index", type=click.Path(path_type=Path), help="Index folder [default: index].")
@_fail_cleanly
def info(index: Path | None) -> None:
    """Show what the index holds: model, chunk settings, documents, counts, build time.

    \b
    Example:
      clinic-assistant info --index index
    """
    from .store import read_manifest

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


if __name__ == "__main__":  # python -m assistant.cli
    sys.exit(main())

"""The build on a Dask cluster: files read and chunked as tasks, passages embedded on the workers.

    with dask_build("local" or "tcp://scheduler:8786", settings) as cluster:
        build_index(settings, cluster=cluster)

Only the work is spread. The driver (the `clinic-assistant build` process) still holds the index
folder's lock, merges the pieces in corpus order, runs the check questions and publishes with
one atomic swap, exactly as a local build: a worker lost mid-way has its tasks run again by Dask
on another worker, or the build fails and the served index is untouched.

Each worker loads the encoder once (a worker plugin) with one intra-op thread per worker thread,
so a worker's cores are used by Dask's threads rather than fought over by ONNX Runtime's. The
workers must see the corpus folder and the index's encoder folder at the same paths as the
driver (shared folders, as the index is).
Only `clinic-assistant build --cluster` imports this module, and so Dask
(`pip install 'clinic-assistant[cluster]'`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from distributed import Client, LocalCluster, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from assistant.config import Settings

ENCODER_PLUGIN = "clinic-assistant-encoder"
# Texts per task: build.py hands the encoder 256 texts at a time (ENCODE_SLICE); 32 each is
# eight tasks to share among the workers.
TEXTS_PER_TASK = 32


def make_encoder(model_path: Path, onnx_path: Path):
    """The one place this module builds an encoder: on a worker, running one text at a time as
    Dask runs one task per thread; on the driver, for the check questions. Both read the ONNX
    file the driver made (or found) in the index folder, which they share."""
    from assistant.index.embed import Embedder

    return Embedder(model_path, onnx_path, threads=1)


class EncoderOnWorker(WorkerPlugin):
    """Loads the encoder once when a worker starts (or joins later), for every task after."""

    name = ENCODER_PLUGIN

    def __init__(self, model_path: str, onnx_path: str) -> None:
        self.model_path = model_path
        self.onnx_path = onnx_path
        self.encoder = None

    def setup(self, worker) -> None:
        self.encoder = make_encoder(Path(self.model_path), Path(self.onnx_path))


def _encode_on_worker(texts: list[str]) -> np.ndarray:
    return get_worker().plugins[ENCODER_PLUGIN].encoder.encode(texts)


def _dimension_on_worker() -> int:
    return int(get_worker().plugins[ENCODER_PLUGIN].encoder.dimension)


class ClusterEmbedder:
    """What build.py needs of an embedder, with encode() spread over the workers. Anything else
    (the check questions run on the driver: encode_query and the like) uses a local encoder,
    loaded only if asked for."""

    def __init__(self, client, model_path: Path, onnx_path: Path) -> None:
        self._client = client
        self._model_path = model_path
        self._onnx_path = onnx_path
        self._local = None
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = self._client.submit(_dimension_on_worker, pure=False).result()
        return self._dimension

    def encode(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """float32 (len(texts), dimension), in the order given; `threads` is the workers' business."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        pieces = [texts[start : start + TEXTS_PER_TASK] for start in range(0, len(texts), TEXTS_PER_TASK)]
        futures = self._client.map(_encode_on_worker, pieces, pure=False)
        return np.concatenate(self._client.gather(futures)).astype(np.float32, copy=False)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if self._local is None:
            self._local = make_encoder(self._model_path, self._onnx_path)
        return getattr(self._local, name)


class DaskBuild:
    """A connected Dask client with the encoder plugin on every worker: `map` and `embedder`,
    which build_index(cluster=...) uses."""

    def __init__(self, client: Client, settings: Settings) -> None:
        from assistant.index.export import ensure_export

        self.client = client
        # Made (once per weights) before any worker needs it; the workers read it from the
        # shared index folder.
        onnx_path = ensure_export(settings.resolved_model_path, settings.resolved_encoder_dir, settings.encoder_precision)
        # A worker that joins later (or replaces a lost one) gets the plugin too.
        client.register_plugin(EncoderOnWorker(str(settings.resolved_model_path), str(onnx_path)), name=ENCODER_PLUGIN)
        self.embedder = ClusterEmbedder(client, settings.resolved_model_path, onnx_path)

    def map(self, function, *columns) -> list:
        """function(*row) for each row of the columns, as tasks; the results in order."""
        if not columns or not columns[0]:
            return []
        return self.client.gather(self.client.map(function, *columns, pure=False))


@contextmanager
def dask_build(address: str, settings: Settings, *, workers: int | None = None) -> Iterator[DaskBuild]:
    """A DaskBuild on the scheduler at `address` ("tcp://host:8786"), or with "local" on a
    cluster of `workers` processes (default: one per core) on 127.0.0.1 started for this build."""
    if address == "local":
        # Processes, not threads: each worker has its own interpreter and encoder. No dashboard:
        # nothing listens but the scheduler and workers, on loopback.
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        with cluster, Client(cluster) as client:
            yield DaskBuild(client, settings)
        return
    try:
        client = Client(address, timeout="20s")
    except OSError:
        # An OSError, as a full disk is: the CLI says the build stopped and the index is as it was.
        raise OSError(f"no Dask scheduler answers at {address}: start one (`dask scheduler`), "
                      "or build without --cluster") from None
    with client:
        yield DaskBuild(client, settings)

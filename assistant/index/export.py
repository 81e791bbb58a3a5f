"""Model weights -> ONNX encoder: the only module that imports torch.

The server and the build encode with ONNX Runtime (index/embed.py). The file they run is made
here, once per model weights and precision, from the model folder (nothing is downloaded), and
kept in the index folder (`index/encoder/`), which replicas share like the builds:

    index/encoder/<weights fingerprint>-<recipe>.onnx      (embed.EXPORT_RECIPES)

Measured on this two-core machine, one thread, against sentence-transformers in torch float32
(query and passage times on a quiet machine; figures on the seed corpus and its 60 answerable
seed questions, and medquad_cancergov's 191 dev questions):

    encoder                              query   250-token  cosine to fp32   seeds top-1/top-3   cancergov
                                                 passage    (mean / min)     /highlight          nDCG@10
    torch fp32 (sentence-transformers)   9.2 ms  ~63 ms     1                0.600/0.767/0.739   0.835
    ONNX fp32 (the default)              3.7 ms  28.9 ms    1.0000 / 1.0000  0.600/0.767/0.739   0.835
    ONNX int8, every MatMul and Gather   0.95 ms -          0.967 / 0.947    -                   -
    ONNX int8, MatMul, per tensor        1.1 ms  -          0.967 / 0.944    -                   -
    ONNX int8, MatMul, per channel       1.1 ms  16.0 ms    0.9945 / 0.990   0.533/0.767/0.717   0.828
      (ENCODER_PRECISION=int8)
    ... the FFN's output MatMul float32  ~1.8 ms -          0.997 / 0.995    0.583/0.783/0.745   0.830
    ... the whole FFN float32            ~3 ms   -          -                0.600/0.767/0.739   -
    + ORT's BERT graph fusions           1.2 ms  20.6 ms    0.9945 / 0.990   -                   -

Questions in int8 against passages built in float32 (2026-12-03; errors on one side only; seed
figures here through `clinic-assistant eval` with its decline rules, fp32 itself 0.667/0.800/0.854):

    int8 questions, MatMul per channel   1.1 ms  (fp32)     -                0.650/0.833/0.860   0.8275
      (liveqa_medquad 0.642, mediqa_qa 0.7775, _pages 0.9957)
    ... the FFN's output MatMul float32  ~1.8 ms (fp32)     -                0.617/0.800/0.854   0.8314

Neither keeps the seed questions' figures: near ties among the first passages flip either way.

int8 with per-channel weight scales keeps each vector within cosine 0.99 of float32, yet that
moves close rankings: four of sixty seed questions lost their first passage and one more was
declined. The promise to patients is the right passage first, so float32 is the default and
int8 a setting for a clinic that needs the speed more (ENCODER_PRECISION=int8). Two more facts
measured here: activations are quantised per run, so int8 texts must be encoded alone, never in
a padded batch (embed.Embedder.encode); and ORT's fused attention was slower on these CPUs.
Each export is checked against the float32 model before it is used (MIN_COSINE).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .embed import ModelNotFound, export_path

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# An export whose vectors for the check texts are further than this from the float32 model's is
# refused: float32 gives 1.0000, per-channel int8 0.990 at worst on the seed corpus, a broken
# export far less.
MIN_COSINE = {"fp32": 0.9999, "int8": 0.98}
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Checked against the float32 model at export time: a question, a heading and a passage-like text.
_CHECK_TEXTS = (
    "Can bone metastases be treated with radiotherapy?",
    "Liver metastases",
    "Metastases are tumours that have spread from the place where the cancer began to other organs. "
    "The most common sites are the bones, the liver, the lungs and the brain. Treatment depends on "
    "where the metastases are, how many there are and which treatment the person had before.",
)


class ExportError(ModelNotFound):
    """The ONNX export failed its check: the model is not usable as configured (the command
    line and the server report it in one sentence, as a missing model)."""


def ensure_export(model_path: Path, encoder_dir: Path, precision: str) -> Path:
    """The ONNX encoder for these weights, made now if it is not there yet (some seconds)."""
    target = export_path(model_path, encoder_dir, precision)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("making the %s ONNX encoder from %s (once per model weights)", precision, model_path)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as scratch:
        made = Path(scratch) / "fp32.onnx"
        _export_fp32(model_path, made)
        if precision == "int8":
            made, fp32 = Path(scratch) / "int8.onnx", made
            _quantize(fp32, made)
        _check(model_path, made, MIN_COSINE[precision])
        os.replace(made, target)  # atomic: a replica or a second build sees all of it or nothing
    return target


def reference_vectors(model_path: Path, texts: list[str], *, threads: int = 1) -> np.ndarray:
    """The float32 vectors of sentence-transformers in torch: what an export is checked and
    benchmarked against (benchmarks/run.py), never used to serve."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True,
                                model_kwargs={"dtype": torch.float32})
    with torch.inference_mode():
        return model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


def _export_fp32(model_path: Path, out: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    class TokenVectors(torch.nn.Module):
        """The transformer's last hidden state: pooling and normalising happen in numpy, so
        the same pass gives the text's vector and each sentence's (embed.encode_with_sentences)."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    model = TokenVectors(AutoModel.from_pretrained(str(model_path), dtype=torch.float32, local_files_only=True).eval())
    example = torch.ones(2, 16, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "token_vectors")}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on traced branches
        torch.onnx.export(model, (example, example, torch.zeros_like(example)), str(out),
                          input_names=list(_INPUTS), output_names=["token_vectors"], dynamic_axes=axes,
                          opset_version=_OPSET, dynamo=False)


def _quantize(fp32: Path, out: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                     op_types_to_quantize=["MatMul"],
                     # The exporter's MatMul outputs carry no type for the quantizer's shape
                     # inference; they are all float32.
                     extra_options={"DefaultTensorType": TensorProto.FLOAT, "MatMulConstBOnly": True})


def _check(model_path: Path, made: Path, min_cosine: float) -> None:
    from .embed import Embedder

    expected = reference_vectors(model_path, list(_CHECK_TEXTS))
    got = Embedder(model_path, made, threads=1).encode(list(_CHECK_TEXTS))
    cosines = (expected * got).sum(axis=1)
    if float(cosines.min()) < min_cosine:
        raise ExportError(f"The ONNX export of {model_path} drifted from the model (cosine "
                          f"{float(cosines.min()):.4f} < {min_cosine}); it was not used.")
    log.info("ONNX encoder checked: cosine to float32 >= %.4f", float(cosines.min()))

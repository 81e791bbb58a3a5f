"""The index: chunks -> vectors and keyword postings on disk, and back.

Takes chunks and the texts to embed; gives the embedder (ONNX Runtime, from an int8 export
that export.py, the only module that imports torch, makes once per model weights), the
self-describing index folder (manifest, chunk records, FAISS passage vectors, int8 sentence
vectors, title vectors, keyword postings) written atomically, and the `StoredIndex` read back
from it, memory-mapped, with a one-sentence error when it is missing or was built with another
model or encoder.
"""

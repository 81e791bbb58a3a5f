"""The index: chunks -> vectors and keyword postings on disk, and back.

Takes chunks and the texts to embed; gives the embedder (the only module that imports torch),
the self-describing index folder (manifest, chunk records, FAISS passage vectors, int8 sentence
vectors, title vectors, keyword postings) written atomically, and the `StoredIndex` read back
from it, with a one-sentence error when it is missing or was built with another model.
"""

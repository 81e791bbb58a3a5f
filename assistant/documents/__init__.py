"""Documents: files in corpus/ -> cleaned, chunked documents.

Takes the files of a corpus folder (txt, md, html, pdf) and their sources.csv rows; gives
`Document`s (cleaned text, title, link, page and section offsets) and their `Chunk`s (passages on
paragraph and sentence boundaries within the model's window). A file that cannot be used is
named and skipped. Nothing here knows about vectors or the index.
"""

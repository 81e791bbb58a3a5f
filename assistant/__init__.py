"""clinic-assistant: answers patients' questions with cited passages from the clinic's documents.

Nothing is generated: every word shown is quoted from a document in ``corpus/``. One folder per
stage, in the order data flows (tests/test_layout.py keeps the imports running that way):
documents/ (files -> chunks), index/ (chunks -> vectors on disk), search/ (query -> hits),
safety/ (message -> urgency), records/ (votes, gaps); then answer.py (message -> Answer) and
render.py; lifecycle/ (build, gate, live reload) above them; evaluate.py and cli.py on top.
"""

__version__ = "0.1.0"

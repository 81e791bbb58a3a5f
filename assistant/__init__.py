"""clinic-assistant: answers patients' questions with cited passages from the clinic's documents.

Nothing is generated: every word shown is quoted from a document in ``corpus/``.
"""

__version__ = "0.1.0"

"""Lifecycle: corpus/ -> a published index, kept fresh while the chat serves.

Takes the corpus folder and the served build; gives a new build (incremental by content hash,
one at a time under a lock, with progress), checked by asking the check questions of the real
assistant before it is published, rollback, and a server-side assistant that follows the
published index without a restart. Sits above answering, because the gate asks questions.
"""

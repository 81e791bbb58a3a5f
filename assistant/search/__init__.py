"""Search: a question (+ the conversation) and a loaded index -> ranked hits, or a reason to decline.

Takes the patient's message, the earlier turns and a `StoredIndex`; gives the standalone query
(follow-ups rebuilt), the `Hit`s ranked by the fused score with each one's answering sentence,
the passages worth showing (calibrated threshold, no repeats), the bold sentence of each (the
one that answers, not one that repeats the question), the topic check that
declines questions about everyday life, and the coverage check that declines questions about a
health topic the corpus never names.
"""

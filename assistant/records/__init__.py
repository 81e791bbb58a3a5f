"""Records: votes and unanswered questions -> counts per document and groups by meaning.

Takes thumbs up/down votes (document ids only) and, when GAPS_LOG=1, the text of questions the
documents did not answer; gives per-document vote counts and the unanswered questions grouped by
meaning, deleted after their retention period. Never message text unless opted in.
"""

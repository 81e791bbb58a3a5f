"""The staff console at /staff: documents, rebuilds, the website crawl and what patients found
useful, for the nurses and web editors who own the leaflets, without a terminal.

Off unless STAFF_PASSWORD_HASH or STAFF_ACCOUNTS is set (then every /staff path is a 404).
accounts.py checks passwords, sessions.py signs the session cookie and the CSRF tokens,
jobs.py starts builds and crawls as the command line does, console.py is the pages.
"""

"""Staff sessions without a session table: a signed cookie, and CSRF tokens derived from it.

The cookie holds who logged in, when (itsdangerous signs it with a timestamp; it expires after
SESSION_HOURS), a random session id, and a fingerprint of that account's password hash, so
changing a password ends its sessions. Nothing is kept on the server, so any server process
with the same secret accepts it: replicas behind a load balancer share the secret file.

    __Host-staff=<signed>; Secure; HttpOnly; SameSite=Strict; Path=/

`__Host-` makes browsers refuse the cookie unless it is Secure, for this host only and for /:
another site of the clinic's domain cannot set or overwrite it. Every form that changes
something carries csrf_token(session), an HMAC of the session id; a request without the right
one is refused, whatever its cookie.

Logging out clears the cookie in that browser. A copied cookie stays valid until it expires or
the password changes; to end every session at once, replace the secret file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "__Host-staff"
# A working day; then staff log in again.
SESSION_HOURS = 8
SESSION_SECONDS = SESSION_HOURS * 3600
# The login form's own token: a page left open this long has to be reloaded.
LOGIN_FORM_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    name: str
    id: str
    account: str  # fingerprint of the account's password hash when the session began


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._sessions = URLSafeTimedSerializer(secret, salt="clinic-assistant staff session")
        self._login_forms = URLSafeTimedSerializer(secret, salt="clinic-assistant staff login form")

    def new_cookie(self, name: str, password_hash: str) -> str:
        return self._sessions.dumps({"n": name, "s": secrets.token_urlsafe(16), "a": self.fingerprint(password_hash)})

    def read_cookie(self, cookie: str | None) -> Session | None:
        """The session the cookie carries, or None if it is missing, forged or expired."""
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_SECONDS)
            return Session(name=str(data["n"]), id=str(data["s"]), account=str(data["a"]))
        except (BadSignature, KeyError, TypeError):
            return None

    def fingerprint(self, password_hash: str) -> str:
        return hmac.new(self._secret, b"account:" + password_hash.encode(), hashlib.sha256).hexdigest()[:16]

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._secret, b"csrf:" + session.id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token)

    def login_form_token(self) -> str:
        return self._login_forms.dumps("login")

    def login_form_ok(self, token: str | None) -> bool:
        try:
            return bool(token) and self._login_forms.loads(token, max_age=LOGIN_FORM_SECONDS) == "login"
        except BadSignature:
            return False


class SecretError(RuntimeError):
    """The secret file cannot be used; the message names it and the fix."""


def load_secret(path: Path) -> bytes:
    """The signing key in `path`, made (64 random hex digits, readable by this user only) if
    there is none yet. O_EXCL: of two processes starting at once, one makes it, both use it."""
    for _attempt in range(100):
        try:
            data = path.read_bytes().strip()
        except FileNotFoundError:
            data = None
        if data is not None and len(data) >= 32:
            return data
        if data is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_hex(32).encode())
            continue
        time.sleep(0.02)  # another process is writing it
    raise SecretError(f"{path} holds no usable key (32 characters at least); delete it to have a new one made, "
                      "or set STAFF_SECRET_FILE to another file.")

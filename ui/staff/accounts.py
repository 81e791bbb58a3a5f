"""Who may use the staff console: one shared password, or a file of named accounts.

Passwords are kept only as scrypt hashes (hashlib.scrypt, RFC 7914) with a random salt each:

    scrypt$ln=15,r=8,p=1$<salt, base64>$<key, base64>

n = 2^15, r = 8 costs 32 MiB and about 0.1 s per check on this machine: cheap for a person
logging in, dear for someone trying a word list (and the console limits attempts besides).

STAFF_PASSWORD_HASH: one password for everyone; the name typed at login is recorded as who
made each change, on trust. STAFF_ACCOUNTS: a file with a "name:hash" line per person
(`clinic-assistant staff-password --name NAME` prints one); the name is then proven.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Settings

_LOG2_N, _R, _P = 15, 8, 1
_KEY_BYTES = 32
# scrypt needs 128 * r * n bytes (32 MiB here); OpenSSL's default ceiling is exactly that, so
# allow a little more.
_MAX_MEMORY = 64 * 1024 * 1024
_HASH = re.compile(r"^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")
NAME = re.compile(r"^[\w.@-]{1,64}$")
NAME_RULE = "1 to 64 letters, digits or . _ @ -"
MIN_PASSWORD = 10


class AccountsError(ValueError):
    """A password, name or accounts file we cannot use; the message says what to fix."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountsError(f"Choose a password of at least {MIN_PASSWORD} characters.")
    salt = secrets.token_bytes(16)
    key = _derive(password, salt, _LOG2_N, _R, _P)
    return f"scrypt$ln={_LOG2_N},r={_R},p={_P}${_b64(salt)}${_b64(key)}"


def account_line(name: str, password: str) -> str:
    if not NAME.match(name):
        raise AccountsError(f"{name!r} is not a usable name: use {NAME_RULE}.")
    return f"{name}:{hash_password(password)}"


def verify_password(password: str, stored: str) -> bool:
    match = _HASH.match(stored.strip())
    if not match:
        return False
    log2_n, r, p = (int(match[i]) for i in (1, 2, 3))
    if not (10 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        return False  # a hash we did not make: never run scrypt with someone else's cost
    expected = base64.b64decode(match[5])
    return hmac.compare_digest(_derive(password, base64.b64decode(match[4]), log2_n, r, p), expected)


@dataclass(frozen=True)
class Accounts:
    """Name -> password hash; `shared`: one hash for any name (STAFF_PASSWORD_HASH)."""

    named: dict[str, str]
    shared: str | None

    def hash_for(self, name: str) -> str | None:
        return self.named.get(name) or self.shared

    @classmethod
    def from_settings(cls, settings: Settings) -> "Accounts":
        """Raises AccountsError naming the setting or the file's line that is wrong."""
        shared = settings.staff_password_hash
        if shared and not _HASH.match(shared.strip()):
            raise AccountsError("STAFF_PASSWORD_HASH is not a hash from `clinic-assistant staff-password`.")
        named = _read_accounts(settings.staff_accounts) if settings.staff_accounts else {}
        return cls(named=named, shared=shared.strip() if shared else None)


# A hash of nothing, so that a login with an unknown name costs the same time as a known one and
# does not tell which names exist.
DUMMY_HASH = "scrypt$ln=15,r=8,p=1$" + "A" * 24 + "$" + "A" * 44


def _read_accounts(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AccountsError(f"Cannot read STAFF_ACCOUNTS file {path}: {error.strerror}.") from None
    named = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _colon, stored = line.strip().partition(":")
        if not NAME.match(name) or not _HASH.match(stored):
            raise AccountsError(f"{path} line {number}: write name:hash, as `clinic-assistant staff-password --name "
                                "NAME` prints it.")
        named[name] = stored
    if not named:
        raise AccountsError(f"{path} has no accounts; add one with `clinic-assistant staff-password --name NAME`.")
    return named


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_MAX_MEMORY,
                          dklen=_KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

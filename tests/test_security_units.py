"""The settings and rules behind the guards, without a server: origins, hosts (the rate limit: test_ratelimit.py)."""

from __future__ import annotations

import pytest

from assistant.config import Settings, SettingsError
from ui.security import host_name, same_origin, trusted_hosts


@pytest.mark.parametrize(
    ("written", "origin"),
    [
        ("https://www.Example-Clinic.org/", "https://www.example-clinic.org"),
        ("https://www.example-clinic.org:443", "https://www.example-clinic.org"),
        ("http://127.0.0.2:8080", "http://127.0.0.2:8080"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_allowed_origins_are_kept_as_browsers_send_them(written, origin):
    assert Settings(allowed_origins=(written,)).allowed_origins == (origin,)


@pytest.mark.parametrize(
    "written",
    ["*", "https://*.example-clinic.org", "www.example-clinic.org", "https://example.org/chat", "ftp://example.org",
     "https://user@example.org", "null", "https://example.org:99999"],
)
def test_an_origin_that_is_not_one_is_refused_with_the_fix(written):
    with pytest.raises(SettingsError, match="ALLOWED_ORIGINS"):
        Settings(allowed_origins=(written,))


@pytest.mark.parametrize(
    "written", ["https://assistant.example.org", "assistant.example.org:443", "*", "*.example.org", ""]
)
def test_a_host_that_is_not_a_name_is_refused_with_the_fix(written):
    with pytest.raises(SettingsError, match="ALLOWED_HOSTS"):
        Settings(allowed_hosts=(written,))


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://www.example-clinic.org/, https://intranet.example-clinic.org")
    monkeypatch.setenv("ALLOWED_HOSTS", "Assistant.Example-Clinic.org [::1]")
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "0")

    settings = Settings.from_env()

    assert settings.allowed_origins == ("https://www.example-clinic.org", "https://intranet.example-clinic.org")
    assert settings.allowed_hosts == ("assistant.example-clinic.org", "::1")
    assert settings.rate_limit_per_minute == 0


def test_defaults_allow_only_the_server_itself_and_limit_questions():
    settings = Settings()

    assert settings.allowed_origins == () and settings.allowed_hosts == ()
    assert settings.rate_limit_per_minute == 20
    assert trusted_hosts(settings) == {"localhost", "127.0.0.1", "::1"}


def test_negative_rate_limit_is_refused(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "-1")

    with pytest.raises(SettingsError, match="RATE_LIMIT_PER_MINUTE"):
        Settings.from_env()


@pytest.mark.parametrize(("bound", "added"), [("10.0.0.5", {"10.0.0.5"}), ("0.0.0.0", set()), ("::", set())])
def test_the_address_listened_on_is_trusted_unless_it_is_a_wildcard(bound, added):
    hosts = trusted_hosts(Settings(allowed_hosts=("a.example",)), bound)

    assert hosts == {"localhost", "127.0.0.1", "::1", "a.example", *added}


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:7860", "127.0.0.1"), ("LOCALHOST", "localhost"), ("[::1]:7860", "::1"),
     ("evil.example@127.0.0.1", None), ("127.0.0.1/x", None), ("a b", None), ("", None)],
)
def test_host_header_is_read_strictly(header, name):
    assert host_name(header) == name


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://127.0.0.1:7860", "127.0.0.1:7860", True),
        ("https://assistant.example.org", "assistant.example.org", True),  # TLS ends at a proxy
        ("https://assistant.example.org", "assistant.example.org:443", True),
        ("http://127.0.0.1:7861", "127.0.0.1:7860", False),
        ("http://127.0.0.2:7860", "127.0.0.1:7860", False),
        ("null", "127.0.0.1:7860", False),
        ("http://127.0.0.1:99999", "127.0.0.1:99999", False),
    ],
)
def test_own_origin_is_the_one_the_host_header_names(origin, host, same):
    assert same_origin(origin, host) is same

"""The rate limit per client, in memory and in a real Redis shared by replicas, and what happens
when that Redis goes away."""

from __future__ import annotations

import time

import pytest

from tests.services import RedisServer, redis_server
from ui import ratelimit
from ui.ratelimit import REDIS_DOWN, RateLimiter, SharedCounts


@pytest.fixture(scope="module")
def redis():
    with redis_server() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def redis_url(request):
    """Each behaviour holds for both storages: None (memory) and a real Redis."""
    ratelimit.shared_counts.cache_clear()
    yield None if request.param == "memory" else request.getfixturevalue("redis").url
    ratelimit.shared_counts.cache_clear()


def test_a_burst_up_to_the_limit_then_a_wait_until_the_oldest_question_is_a_window_old(redis_url, request):
    limiter = RateLimiter(per_minute=3, name=request.node.name, redis_url=redis_url)

    burst = [limiter.take("patient") for _ in range(4)]

    assert burst[:3] == [0, 0, 0]
    assert 1 <= burst[3] <= 60  # the first of the three leaves the minute's window within 60 s
    assert 1 <= limiter.wait("patient") <= 60  # and waiting does not take from it


def test_each_client_is_counted_alone_and_zero_is_no_limit(redis_url, request):
    limiter = RateLimiter(per_minute=1, name=request.node.name, redis_url=redis_url)
    unlimited = RateLimiter(per_minute=0, name=request.node.name + "-off", redis_url=redis_url)

    first = [limiter.take("a"), limiter.take("b")]

    assert first == [0, 0] and limiter.take("a") > 0
    assert {unlimited.take("a") for _ in range(1000)} == {0}


def test_wait_does_not_use_the_allowance_and_questions_come_back_once_the_window_passed(redis_url, request):
    limiter = RateLimiter(per_minute=2, name=request.node.name, redis_url=redis_url, window_seconds=1)
    assert [limiter.wait("p") for _ in range(5)] == [0] * 5
    assert [limiter.take("p"), limiter.take("p")] == [0, 0]
    assert limiter.take("p") == 1 and limiter.wait("p") == 1

    time.sleep(1.1)  # past the one-second window: both questions have left it

    assert limiter.take("p") == 0


def test_replicas_sharing_redis_count_one_visitor_together(redis):
    # Two processes' worth of state: each replica has its own SharedCounts (its own pool).
    replica_a = RateLimiter(per_minute=3, name="shared", redis_url=redis.url)
    replica_b = RateLimiter(per_minute=3, name="shared", redis_url=redis.url)
    replica_b.counts = SharedCounts(redis.url)

    taken = [replica_a.take("visitor"), replica_b.take("visitor"), replica_a.take("visitor"), replica_b.take("visitor")]

    assert taken[:3] == [0, 0, 0] and taken[3] > 0
    assert replica_a.degraded_reason() is None and replica_b.degraded_reason() is None


def test_without_redis_the_replica_counts_alone_says_degraded_and_goes_back_when_redis_returns(monkeypatch):
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_SECONDS", 0.2)
    server = RedisServer()
    server.start()
    try:
        limiter = RateLimiter(per_minute=2, name="outage", redis_url=server.url)
        limiter.counts = SharedCounts(server.url)
        assert limiter.take("p") == 0 and limiter.degraded_reason() is None

        server.stop()
        during = [limiter.take("p") for _ in range(3)]  # counted in memory from zero

        assert during[:2] == [0, 0] and during[2] > 0
        assert limiter.degraded_reason() == REDIS_DOWN

        server.start()  # the same port, empty: nothing was saved
        time.sleep(0.3)  # past the retry pause

        assert limiter.degraded_reason() is None
        assert [limiter.take("q"), limiter.take("q"), limiter.take("q")][:2] == [0, 0]
    finally:
        server.stop()


def test_a_server_whose_redis_is_gone_answers_and_says_degraded_without_any_question_text(seed_settings, seed_assistant):
    import httpx

    from tests.live_server import running_server
    from tests.services import free_port

    ratelimit.shared_counts.cache_clear()
    nobody_there = f"redis://127.0.0.1:{free_port()}/0"
    question = "Where does breast cancer usually spread?"
    with running_server(seed_settings.with_(redis_url=nobody_there), assistant=seed_assistant) as url:
        before = httpx.get(f"{url}/healthz").json()  # before anyone was counted: Redis is asked
        answered = httpx.post(f"{url}/api/ask", json={"question": question}, timeout=60)
        health = httpx.get(f"{url}/healthz").json()

    assert answered.status_code == 200 and answered.json()["passages"]
    assert before["status"] == health["status"] == "degraded" and health["reasons"] == [REDIS_DOWN]
    assert "breast" not in str(health)
    ratelimit.shared_counts.cache_clear()

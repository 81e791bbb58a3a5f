"""Two replicas behind nginx, sharing one index folder, PostgreSQL and Redis: all real processes
on loopback (nginx on 127.0.0.2, the replicas on 127.0.0.1, visitors on addresses of their own).

What one replica knows the other must know too: votes land in one table, a visitor's allowance
is counted once across both, a rebuild is followed by both without a failed request, a staff
session and a build started on either one hold on the other. When Redis stops, both go on
answering and say "degraded" in /healthz.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from assistant.config import Settings
from assistant.records.feedback import FeedbackStore
from tests.conftest import ROOT, SEED_CORPUS
from tests.live_server import wait_until_healthy
from tests.services import free_port, need, nginx_server, redis_server, stop
from ui.ratelimit import REDIS_DOWN
from ui.staff.accounts import hash_password

CLI = [sys.executable, "-m", "assistant.cli"]
NGINX_HOST = "127.0.0.2"
PER_MINUTE = 4
PASSWORD = "a long staff passphrase"
HAIR = "---\ntitle: Hair loss during treatment\n---\nScalp cooling caps reduce hair loss during chemotherapy. " \
       "Hair usually grows back within three to six months after the last treatment.\n"
QUESTION = "Where does breast cancer usually spread?"
# Bounds for a hung test on a slow, shared machine; nothing here measures time.
DEADLINE = 240


def visitor(address: str) -> httpx.Client:
    """A browser at `address` (any 127.x.y.z is this machine's), talking to nginx."""
    return httpx.Client(base_url=f"http://{NGINX_HOST}:{Cluster.nginx_port}", timeout=DEADLINE,
                        transport=httpx.HTTPTransport(local_address=address))


def nginx_config(site: str, folder: Path) -> str:
    """deploy/nginx.conf inside the smallest nginx.conf, on free loopback ports, files in `folder`."""
    return f"""
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
"""


def deployed_site(replica_ports: list[int], nginx_port: int) -> str:
    site = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", site, re.M)
    assert len(servers) == 2, "deploy/nginx.conf should list two replicas"
    for line, port in zip(servers, replica_ports):
        site = site.replace(line, re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", line))
    return site.replace("listen 80;", f"listen {NGINX_HOST}:{nginx_port};")


class Cluster:
    nginx_port = 0

    def __init__(self, root: Path, redis, database_url: str) -> None:
        self.settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
        self.redis, self.database_url = redis, database_url
        self.ports = [free_port(), free_port()]
        self.env = {**os.environ, "CORPUS_DIR": str(self.settings.corpus_dir),
                    "INDEX_DIR": str(self.settings.index_dir), "REDIS_URL": redis.url, "DATABASE_URL": database_url,
                    "TRUSTED_PROXIES": "127.0.0.1", "ALLOWED_HOSTS": NGINX_HOST,
                    "RATE_LIMIT_PER_MINUTE": str(PER_MINUTE), "STAFF_PASSWORD_HASH": hash_password(PASSWORD),
                    "QUERY_THREADS": "1", "BUILD_THREADS": "1"}
        self.replicas: list[subprocess.Popen] = []

    def build(self) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, "build"], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=DEADLINE)

    def start_replicas(self) -> None:
        for port in self.ports:
            self.replicas.append(subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                                  cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
        for url, process in zip(self.replica_urls(), self.replicas):
            wait_until_healthy(url, lambda process=process: process.poll() is None, DEADLINE)

    def replica_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def health(self) -> list[dict]:
        return [httpx.get(f"{url}/healthz", timeout=30).json() for url in self.replica_urls()]

    def stop(self) -> None:
        for process in self.replicas:
            stop(process)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server_url):
    need("nginx")
    root = tmp_path_factory.mktemp("replicas")
    shutil.copytree(SEED_CORPUS, root / "corpus")
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS replicas")
        admin.execute("CREATE DATABASE replicas")
    with redis_server() as redis:
        cluster = Cluster(root, redis, postgres_server_url.rsplit("/", 1)[0] + "/replicas")
        built = cluster.build()  # the one index folder both replicas serve
        assert built.returncode == 0, built.stderr
        Cluster.nginx_port = free_port(NGINX_HOST)
        site = deployed_site(cluster.ports, Cluster.nginx_port)
        try:
            cluster.start_replicas()
            with nginx_server(lambda folder: nginx_config(site, folder)):
                wait_until_healthy(f"http://{NGINX_HOST}:{Cluster.nginx_port}", lambda: True, 30)
                yield cluster
        finally:
            cluster.stop()


def test_nginx_passes_host_and_the_visitors_address_and_both_replicas_answer(cluster):
    with visitor("127.0.0.1") as client:
        answers = [client.post("/api/ask", json={"question": QUESTION}) for _ in range(2)]
        page = client.get("/")

    assert [a.status_code for a in answers] == [200, 200] and answers[0].json()["passages"]
    # Links are built on the name the visitor used, which only a passed-on Host header gives.
    assert answers[0].json()["passages"][0]["source_url"].startswith(f"http://{NGINX_HOST}:{Cluster.nginx_port}/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert [h["status"] for h in cluster.health()] == ["ok", "ok"]


def test_votes_from_both_replicas_land_in_one_table(cluster):
    for url, doc in zip(cluster.replica_urls(), ("liver.txt", "bones.md")):
        stored = httpx.post(f"{url}/api/feedback", json={"doc_ids": [doc], "vote": "up"}, timeout=30)
        assert stored.status_code == 200, stored.text

    votes = {v.doc_id: v.up for v in FeedbackStore(cluster.database_url).summary()}
    with psycopg.connect(cluster.database_url) as db:
        migrated = db.execute("SELECT component, number FROM schema_migrations ORDER BY 1").fetchall()

    assert votes == {"liver.txt": 1, "bones.md": 1}
    # Both replicas started at once on an empty database; the gaps log (off) was migrated too.
    assert migrated == [("feedback", 1), ("gaps", 1)]


def test_a_visitor_is_counted_once_across_both_replicas_whatever_it_claims_to_be(cluster):
    # nginx takes turns: counted per replica, six questions would all pass (three each).
    with visitor("127.0.0.3") as client:
        statuses = [client.post("/api/ask", json={"question": QUESTION},
                                headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code for n in range(6)]

    assert statuses == [200] * PER_MINUTE + [429] * (6 - PER_MINUTE)
    # Each replica, asked directly on behalf of that visitor (the test is a trusted proxy here),
    # sees the allowance used up; another visitor is not affected.
    for url in cluster.replica_urls():
        assert httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60,
                          headers={"X-Forwarded-For": "127.0.0.3"}).status_code == 429
    with visitor("127.0.0.4") as other:
        assert other.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_a_rebuild_is_followed_by_both_replicas_without_a_failed_request(cluster):
    before = cluster.health()
    assert before[0]["build"] == before[1]["build"]
    # Visitors at many addresses, so the stream stays within each one's allowance.
    visitors = [visitor(f"127.0.1.{n}") for n in range(1, 201)]
    questions = itertools.cycle(["What are metastases?", "Will my hair grow back?", QUESTION])
    statuses: list[int | str] = []
    stop_asking = threading.Event()

    def ask_steadily() -> None:
        for client in itertools.cycle(visitors):
            if stop_asking.is_set():
                return
            try:
                statuses.append(client.post("/api/ask", json={"question": next(questions)}).status_code)
            except httpx.HTTPError as error:
                statuses.append(type(error).__name__)
            time.sleep(0.05)

    asker = threading.Thread(target=ask_steadily, name="steady-questions")
    asker.start()
    try:
        (cluster.settings.corpus_dir / "hair.txt").write_text(HAIR, encoding="utf-8")
        built = cluster.build()
        assert built.returncode == 0, built.stderr
        deadline = time.monotonic() + DEADLINE
        while before[0]["build"] in {h["build"] for h in cluster.health()}:
            assert time.monotonic() < deadline, "a replica never picked up the new build"
            time.sleep(0.2)
        followed_at = len(statuses)
        while len(statuses) < followed_at + 6:  # answers from the new index on both, same stream
            time.sleep(0.1)
        after = cluster.health()
    finally:
        stop_asking.set()
        asker.join(timeout=DEADLINE)
        for client in visitors:
            client.close()

    assert followed_at > 0 and [s for s in statuses if s != 200] == []
    assert after[0]["build"] == after[1]["build"] and after[0]["documents"] == before[0]["documents"] + 1
    for url in cluster.replica_urls():
        answer = httpx.post(f"{url}/api/ask", json={"question": "Will my hair grow back after chemo?"},
                            headers={"X-Forwarded-For": "127.0.0.5"}, timeout=60).json()
        assert answer["passages"][0]["doc_id"] == "hair.txt"


def staff_login(base_url: str) -> str:
    """A staff session cookie from the replica at base_url (sent by hand: it is Secure)."""
    form = httpx.get(f"{base_url}/staff/login", timeout=30).text
    token = re.search(r'name="login_token" value="([^"]+)"', form)[1]
    response = httpx.post(f"{base_url}/staff/login", timeout=60,
                          data={"name": "j.smith", "password": PASSWORD, "login_token": token})
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].split(";")[0]


def test_a_staff_session_from_one_replica_holds_on_the_other_and_one_build_runs_at_a_time(cluster):
    first, second = cluster.replica_urls()
    cookie = {"Cookie": staff_login(first)}
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', httpx.get(f"{second}/staff", headers=cookie).text)[1]

    started = httpx.post(f"{first}/staff/build", data={"csrf_token": csrf}, headers=cookie, timeout=60)
    refused = httpx.post(f"{second}/staff/build", data={"csrf_token": csrf}, headers=cookie, timeout=60)
    deadline = time.monotonic() + DEADLINE
    while (job := httpx.get(f"{second}/staff/build/status", headers=cookie, timeout=30).json())["state"] == "running":
        assert time.monotonic() < deadline, "the build never finished"
        time.sleep(0.5)

    assert started.status_code == 303 and started.headers["location"] == "/staff/build?notice=build-started"
    assert refused.status_code == 409 and "A build is already running" in refused.text
    assert job["state"] == "done", job


def test_with_redis_stopped_both_replicas_go_on_answering_and_say_degraded(cluster):
    cluster.redis.stop()
    try:
        with visitor("127.0.0.6") as client:
            statuses = [client.post("/api/ask", json={"question": QUESTION}).status_code for _ in range(2)]
        health = cluster.health()
    finally:
        cluster.redis.start()

    assert statuses == [200, 200]
    assert [h["status"] for h in health] == ["degraded", "degraded"]
    assert all(h["reasons"] == [REDIS_DOWN] for h in health)
    deadline = time.monotonic() + DEADLINE  # Redis is back: the replicas count there again
    while [h["status"] for h in cluster.health()] != ["ok", "ok"]:
        assert time.monotonic() < deadline, "the replicas never went back to Redis"
        time.sleep(0.5)


def test_when_a_replica_dies_nginx_sends_its_visitors_to_the_other_without_an_error(cluster):
    cluster.replicas[1].kill()  # as a crash or a lost machine: no goodbye
    cluster.replicas[1].wait()

    with visitor("127.0.0.7") as client:
        statuses = [client.post("/api/ask", json={"question": QUESTION}).status_code for _ in range(PER_MINUTE)]

    # A refused connection means the question never reached the dead one: nginx asks the other.
    assert statuses == [200] * PER_MINUTE

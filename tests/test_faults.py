"""Faults against real servers: a private PostgreSQL and Redis that these tests start,
crash and start again, and the real product (uvicorn, a separate process) in front of
them. What a client sees must stay clean: a 503 with Retry-After, a websocket closed
with 1013, a degraded /healthz, never a 500 or a traceback per request."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.private_services import PrivatePostgres, PrivateRedis, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.faults

SETUP = """
from django.contrib.auth.models import Group, User
from triage import demo, roles, services
from triage.accounts.models import ApiToken
from triage.accounts.tokens import token_digest
for slug, (name, description) in demo.CATEGORIES.items():
    services.category_ensure(slug=slug, name=name, description=description)
feeder = User.objects.create_user("feeder", password="pw-feeder")
feeder.groups.add(Group.objects.get(name=roles.INTEGRATION))
ApiToken.objects.create(user=feeder, name="feeder", prefix="ffff", digest=token_digest("f" * 40))
agent = User.objects.create_user("alice", password="pw-alice")
agent.groups.add(Group.objects.get(name=roles.AGENT))
"""

REGISTER = """
from triage import demo
from triage.ml.pipeline import build_pipeline
from triage.learning.promotion import model_version_activate
from triage.learning.registry import model_version_create
examples = demo.generate(240, seed=11)
pipeline = build_pipeline().fit([(t.subject, t.body) for t in examples], [t.category for t in examples])
if FOREIGN:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(max_iter=200))]).fit(
        [t.subject + " " + t.body for t in examples], [t.category for t in examples]
    )
version = model_version_create(
    pipeline=pipeline, classes=[str(c) for c in pipeline.classes_], params={}, metrics={}, lineage={}
)
model_version_activate(version=version)
if TAMPER:
    with open(version.artifact.path, "r+b") as fh:
        data = bytearray(fh.read())
        data[len(data) // 2] ^= 0xFF
        fh.seek(0)
        fh.write(data)
print(version.version)
"""


class Product:
    """The product's environment on the private servers, and its web process."""

    def __init__(self, postgres: PrivatePostgres, redis: PrivateRedis, folder: Path) -> None:
        self.folder = folder
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
            "ASSIST_LOCAL_DEV": "1",
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "MEDIA_ROOT": str(folder / "media"),
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SECURE_COOKIES": "0",
            "DJANGO_HSTS_SECONDS": "0",
            "ASSIST_MODEL_REFRESH_SECONDS": "0.5",
            "ASSIST_BLIND_SHARE": "0",
            "CHANNELS_PREFIX": f"assist-faults-{redis.port}",
            "PYTHONUNBUFFERED": "1",
        }
        self.server: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = folder / "server.log"

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=False
        )
        if check and run.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args[:1])} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
        return run

    def register_model(self, *, tamper: bool = False, foreign: bool = False) -> int:
        code = f"FOREIGN = {foreign!r}\nTAMPER = {tamper!r}\n{REGISTER}"
        return int(self.manage("shell", "-c", code).stdout.strip().splitlines()[-1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "uvicorn", "assist.asgi:application", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--ws", "websockets-sansio", "--no-access-log"]
        with self.log.open("ab") as log:
            self.server = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, what="the web process did not answer /healthz", seconds=60)

    def _answers(self) -> bool:
        assert self.server is not None and self.server.poll() is None, self.log.read_text()[-3000:]
        try:
            requests.get(self.url + "/healthz", timeout=2)
        except requests.RequestException:
            return False
        return True

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=20)
            self.server = None

    def post_ticket(self, body: str) -> requests.Response:
        headers = {"Authorization": "Token " + "f" * 40}
        return requests.post(
            self.url + "/api/tickets/", json={"subject": "Card", "body": body}, headers=headers, timeout=15
        )

    def health(self) -> requests.Response:
        return requests.get(self.url + "/healthz", timeout=15)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    postgres, redis = PrivatePostgres(), PrivateRedis()
    try:
        postgres.start()
        redis.start()
        yield postgres, redis
    finally:
        postgres.close()
        redis.close()


@pytest.fixture(scope="module")
def migrated(servers: tuple[PrivatePostgres, PrivateRedis], tmp_path_factory: pytest.TempPathFactory) -> Product:
    product = Product(*servers, tmp_path_factory.mktemp("product"))
    product.manage("migrate", "--noinput")
    product.manage("shell", "-c", SETUP)
    return product


@pytest.fixture
def product(migrated: Product, servers: tuple[PrivatePostgres, PrivateRedis]) -> Iterator[Product]:
    postgres, redis = servers
    # Whatever an earlier test left crashed is running again, and the live model is none.
    if postgres.process is None:
        postgres.start()
    if redis.process is None:
        redis.start()
    migrated.manage(
        "shell", "-c", "from triage.models import ModelVersion; ModelVersion.objects.update(status='retired')"
    )
    migrated.log.write_bytes(b"")
    yield migrated
    migrated.stop()


def test_postgresql_crashing_is_a_503_with_retry_after_and_recovers_without_a_restart(
    product: Product, servers: tuple[PrivatePostgres, PrivateRedis]
) -> None:
    postgres, _ = servers
    product.start()
    assert product.post_ticket("before the outage").status_code == 201
    postgres.crash()
    for i in range(5):
        answer = product.post_ticket(f"during the outage {i}")
        assert answer.status_code == 503 and answer.headers["Content-Type"] == "application/json", answer.text[:300]
        assert int(answer.headers["Retry-After"]) > 0 and "database" in answer.json()["detail"]
    health = product.health()
    assert health.status_code == 503 and health.json()["database"] == "down" and health.json()["status"] == "down"
    postgres.start()
    wait_until(lambda: product.health().status_code == 200, what="/healthz did not recover")
    assert product.post_ticket("after the outage").status_code == 201
    log = product.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert 1 <= log.count("database unavailable") <= 2, log[-3000:]


def _session_cookie(product: Product) -> str:
    browser = requests.Session()
    browser.get(product.url + "/accounts/login/", timeout=10)
    token = browser.cookies["csrftoken"]
    answer = browser.post(
        product.url + "/accounts/login/",
        data={"username": "alice", "password": "pw-alice", "csrfmiddlewaretoken": token},
        headers={"Referer": product.url + "/accounts/login/"},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return f"sessionid={browser.cookies['sessionid']}"


def _socket_close_code(product: Product, cookie: str) -> int | None:
    """The close code the queue socket ends with, or None if it stays open."""
    ws_url = product.url.replace("http", "ws") + "/ws/queue/"
    with connect(ws_url, additional_headers={"Cookie": cookie, "Origin": product.url}, open_timeout=10) as socket:
        try:
            socket.recv(timeout=1.5)
        except TimeoutError:
            return None
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def test_redis_crashing_refuses_sockets_with_1013_and_a_retrain_fails_at_once(
    product: Product, servers: tuple[PrivatePostgres, PrivateRedis]
) -> None:
    _, redis = servers
    product.start()
    cookie = _session_cookie(product)
    assert _socket_close_code(product, cookie) is None  # live
    redis.crash()
    assert _socket_close_code(product, cookie) == 1013  # refused cleanly, not an HTTP 500
    assert product.post_ticket("stored while Redis is down").status_code == 201
    health = product.health().json()
    assert health["status"] == "degraded" and health["redis"] == "down"
    retrain = product.manage("retrain", "--wait", "--timeout", "30", check=False)
    assert retrain.returncode != 0 and "could not reach the task broker" in retrain.stderr, retrain.stderr[-2000:]
    redis.start()
    wait_until(lambda: product.health().json()["redis"] == "ok", what="/healthz did not see Redis back")
    assert _socket_close_code(product, cookie) is None
    log = product.log.read_text()
    # (A failed push is logged with its error by triage/broadcast.py: that one is wanted.)
    assert "Exception in ASGI application" not in log and " 500" not in log, log[-3000:]
    assert "websocket refused" in log


def test_a_restart_with_the_live_artifact_tampered_serves_the_previous_version_and_says_degraded(
    product: Product,
) -> None:
    first = product.register_model()
    second = product.register_model(tamper=True)
    product.start()  # a fresh process: no model loaded before the tampered one
    health = product.health().json()
    assert health["status"] == "degraded" and health["model_version"] == first, health
    assert any(f"live model v{second} refused" in p for p in health["problems"])
    answer = product.post_ticket("my card was stolen on the train")
    assert answer.status_code == 201 and answer.json()["suggestion"]["model_version"] == first
    assert "FALLBACK" in product.log.read_text()


def test_a_foreign_pipeline_going_live_is_refused_once_and_the_previous_model_keeps_serving(
    product: Product,
) -> None:
    first = product.register_model()
    product.start()
    assert product.health().json()["model_version"] == first
    foreign = product.register_model(foreign=True)
    wait_until(lambda: product.health().json()["status"] == "degraded", what="the foreign version was not refused")
    for i in range(10):
        answer = product.post_ticket(f"my card was declined {i}")
        assert answer.status_code == 201 and answer.json()["suggestion"]["model_version"] == first
        assert product.health().status_code == 200
    log = product.log.read_text()
    assert log.count(f"refusing model v{foreign}") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]

"""The production path as the README gives it: `check --deploy` with .env.example's settings, the
refusal of the built-in SECRET_KEY, and `gunicorn crm.wsgi:application` (gunicorn.conf.py,
DEBUG off, collectstatic, the app role) serving the inbox with its static files and capped
event streams, driven over HTTP and in Debian's chromium.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import Client
from django.utils import timezone

from bench.fake_graph import FakeGraphServer
from crm.models import Organization, Role, User
from tenancy.context import tenant_context
from tests.celery_support import wait_for
from tests.factories import WhatsAppNumberFactory
from tests.inbox_support import conversation
from tests.test_admin_support import PASSWORD, make_staff
from tests.test_inbox_browser import CHROMIUM, LIVE, browser, expect  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    """The test database, as the role the tests run as (the app role on PostgreSQL)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _documented_env() -> dict[str, str]:
    """The settings .env.example gives, uncommented lines only."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _production_env(**extra: str) -> dict[str, str]:
    """The environment a production start has: crm.settings, nothing of the tests' settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    return {**env, "DJANGO_SETTINGS_MODULE": "crm.settings", "DATABASE_URL": _database_url(),
            **extra}


def test_check_deploy_is_clean_with_the_documented_settings(transactional_db: None) -> None:
    documented = _documented_env()
    env = _production_env(**{**documented, "SECRET_KEY": uuid.uuid4().hex * 2})
    assert documented["DEBUG"] == "false"
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr.upper()


def test_debug_off_refuses_the_built_in_secret_key() -> None:
    env = _production_env(DEBUG="false")
    env.pop("SECRET_KEY", None)
    for secret in (None, "django-insecure-dev-key-set-SECRET_KEY-in-production"):
        if secret:
            env["SECRET_KEY"] = secret
        result = _manage(env, "check")
        assert result.returncode != 0
        assert "ImproperlyConfigured" in result.stderr
        assert "Set SECRET_KEY in the environment or .env" in result.stderr
    # A configured database is production unless DEBUG says otherwise: the key is refused too.
    env.pop("SECRET_KEY")
    env.pop("DEBUG")
    assert "Set SECRET_KEY in the environment" in _manage(env, "check").stderr
    # With DEBUG on (bin/run), the built-in key still lets a fresh clone run, and so does no
    # configuration at all (the embedded SQLite file: a newcomer's first `manage.py`).
    assert _manage({**env, "DEBUG": "true"}, "check").returncode == 0
    env.pop("DATABASE_URL")
    assert _manage(env, "check").returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """`gunicorn crm.wsgi:application` from the project folder (its gunicorn.conf.py)."""

    def __init__(self, env: dict[str, str], threads: int) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "crm.wsgi:application", "-b",
             self.url.removeprefix("http://"), "-w", "1", "--threads", str(threads)],
            cwd=ROOT, env=env)

    def wait_until_up(self) -> None:
        def answers() -> bool:
            assert self.process.poll() is None, "gunicorn exited: see its output above"
            try:
                return httpx.get(f"{self.url}/admin/login/", timeout=2).status_code == 200
            except httpx.TransportError:
                return False
        wait_for(answers, timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def gunicorn(transactional_db: None, tmp_path: Path) -> Iterator[Gunicorn]:
    """gunicorn with DEBUG off on the test database, after collectstatic into a folder of its
    own; one worker of 6 threads (so at most 3 streams), 2 streams per user. The fake Graph API
    answers sends."""
    with FakeGraphServer() as graph:
        env = _production_env(
            DEBUG="false", ALLOWED_HOSTS="127.0.0.1", STATIC_ROOT=str(tmp_path / "static"),
            SECRET_KEY=os.environ["SECRET_KEY"],  # the tests' key: their sessions sign in
            SECURE_SSL_REDIRECT="false", SESSION_COOKIE_SECURE="false",
            CSRF_COOKIE_SECURE="false", CONN_MAX_AGE="0", LOG_LEVEL="WARNING",
            WHATSAPP_GRAPH_URL=graph.url, WHATSAPP_NUMBER_CACHE_SECONDS="0",
            INBOX_EVENTS_PREFIX=settings.INBOX_EVENTS_PREFIX, INBOX_HEARTBEAT_SECONDS="0.2",
            INBOX_STREAM_SECONDS="60", INBOX_STREAMS_PER_USER="2",
        )
        env.pop("INBOX_STREAMS_PER_PROCESS", None)  # gunicorn.conf.py derives it
        collected = _manage(env, "collectstatic", "--no-input", "-v0")
        assert collected.returncode == 0, collected.stderr
        server = Gunicorn(env, threads=6)
        try:
            server.wait_until_up()
            yield server
        finally:
            server.stop()


def _session(user: User) -> dict[str, str]:
    """Cookies of a session signed in as `user` (the server shares the database and key)."""
    client = Client()
    client.force_login(user)
    return {"sessionid": client.cookies["sessionid"].value}


def test_gunicorn_keeps_pages_answered_while_streams_are_capped(
    gunicorn: Gunicorn, org_a: Organization, org_b: Organization
) -> None:
    agent_a, agent_b, other_b = (make_staff(org, Role.AGENT)
                                 for org in (org_a, org_b, org_b))
    a = httpx.Client(base_url=gunicorn.url, cookies=_session(agent_a), timeout=10)
    b = httpx.Client(base_url=gunicorn.url, cookies=_session(agent_b), timeout=10)
    c = httpx.Client(base_url=gunicorn.url, cookies=_session(other_b), timeout=10)
    with ExitStack() as streams:
        held = [streams.enter_context(a.stream("GET", "/inbox/events/")) for _ in range(2)]
        assert [r.status_code for r in held] == [200, 200]
        over = a.get("/inbox/events/")  # over the user's cap: answered at once
        assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
        # Another organization still gets a stream, until the process's share of threads is
        # taken; then a stream is refused, and pages are answered all the same.
        theirs = streams.enter_context(b.stream("GET", "/inbox/events/"))
        assert theirs.status_code == 200
        assert c.get("/inbox/events/").status_code == 429
        assert c.get("/inbox/").status_code == 200
        assert b.get("/inbox/list/").status_code == 200

        # A client that goes away without a word: its stream ends at the next heartbeat it
        # cannot send, and its slot is free again.
        held[0].close()

        def reopened() -> Any:
            """A's freed stream slot."""
            stream = streams.enter_context(a.stream("GET", "/inbox/events/"))
            if stream.status_code == 200:
                return stream
            stream.close()
            return None
        assert wait_for(reopened, timeout=20).status_code == 200


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="apt-get install chromium")
def test_gunicorn_serves_the_inbox_to_a_browser(
    gunicorn: Gunicorn, browser: Any, org_a: Organization,  # noqa: F811 (the fixture)
) -> None:
    """Sign in, open a conversation (htmx and the inbox script load), reply: the reply appears,
    and its text was never in a URL."""
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00000")
    conversation(org_a, "Asha Rao", at=timezone.now() - timedelta(minutes=5),
                 business_number="918000000000")
    agent = make_staff(org_a, Role.AGENT)
    # A hash the production settings check (the tests' own hasher is a fast one they lack).
    with tenant_context(org_a):
        User.objects.filter(pk=agent.pk).update(
            password=make_password(PASSWORD, hasher="bcrypt"))
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    requests: list[tuple[str, str]] = []
    page.on("request", lambda request: requests.append((request.method, request.url)))
    static: dict[str, int] = {}
    page.on("response", lambda response: static.__setitem__(response.url, response.status)
            if "/static/" in response.url else None)

    page.goto(f"{gunicorn.url}/admin/login/?next=/inbox/")
    page.fill("input[name=username]", agent.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{gunicorn.url}/inbox/")
    page.click("text=Asha Rao")
    expect(page.locator("body[data-live=on]")).to_have_count(1, timeout=LIVE)
    assert page.evaluate("typeof htmx") == "object"
    # collectstatic's hashed names, served by WhiteNoise (gunicorn alone serves none).
    for pattern in (r"/static/inbox/htmx\.min\.\w+\.js$", r"/static/inbox/inbox\.\w+\.js$",
                    r"/static/inbox/inbox\.\w+\.css$"):
        assert any(re.search(pattern, url) and status == 200
                   for url, status in static.items()), static

    text = f"reply-{uuid.uuid4().hex}"
    page.fill("textarea[name=text]", text)
    page.click("#composer button[type=submit]")
    expect(page.locator(f".bubble.out >> text={text}")).to_be_visible(timeout=LIVE)
    assert any(method == "POST" and url.endswith("/reply/") for method, url in requests)
    assert not [url for method, url in requests if text in url], "the reply was put in a URL"

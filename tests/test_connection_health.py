"""A reused database connection is checked before each request without a round trip."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extensions
import pytest
from django.db import connection

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="the check is the PostgreSQL backend's")
OWNER = urlsplit(os.environ["DATABASE_URL"]).username  # may end another role's session


class _CountingCursor(psycopg2.extensions.cursor):
    """Counts every statement the connection sends, Django's health check included."""

    sent: list[str] = []

    def execute(self, query: Any, vars: Any = None) -> Any:  # noqa: A002  (psycopg2's name)
        self.sent.append(str(query))
        return super().execute(query, vars)


@pytest.fixture
def sent(transactional_db: None) -> Iterator[list[str]]:
    """The statements the default connection sends from now on."""
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    connection.ensure_connection()
    _CountingCursor.sent = []
    connection.connection.cursor_factory = _CountingCursor
    yield _CountingCursor.sent
    connection.close()


def _next_request() -> None:
    """What Django does between two requests on a thread that keeps its connection."""
    connection.close_if_unusable_or_obsolete()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_healthy_connection_is_reused_with_no_statement_of_the_check(sent: list[str]) -> None:
    pid = _backend_pid()
    _next_request()
    sent.clear()
    assert _backend_pid() == pid
    assert sent == ["SELECT pg_backend_pid()"]  # Django's own check would have sent SELECT 1


def test_a_connection_the_server_closed_is_replaced_before_the_request_uses_it(
        sent: list[str]) -> None:
    pid = _backend_pid()
    with psycopg2.connect(host="127.0.0.1", user=OWNER, dbname=connection.settings_dict["NAME"]
                          ) as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 30000)", [pid])  # waits for its exit
        assert cursor.fetchone() == (True,)
    other.close()
    _next_request()
    assert _backend_pid() != pid  # a new session, and no error for the request

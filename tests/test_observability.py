"""/healthz, /readyz and /metrics (token-protected): what they answer and what they count."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from crm.models import InboundDelivery
from crm.observability import health
from crm.observability.metrics import GRAPH_ERRORS

TOKEN = "scrape-token-for-tests"


def test_healthz_answers_without_touching_anything() -> None:
    answer = Client().get("/healthz")
    assert (answer.status_code, answer.content) == (200, b"ok\n")


@pytest.mark.django_db
def test_readyz_checks_postgresql_redis_and_rabbitmq(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = Client().get("/readyz")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"ready": True, "checks": {
        "postgresql": "ok", "redis": "ok", "rabbitmq": "ok"}}

    def down() -> None:
        raise ConnectionRefusedError("amqp://guest:secret@broker:5672 refused")

    monkeypatch.setitem(health.CHECKS, "rabbitmq", down)
    answer = Client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["rabbitmq"] == "unreachable (ConnectionRefusedError)"
    assert b"secret" not in answer.content


@pytest.mark.django_db
def test_metrics_want_the_token() -> None:
    assert Client().get("/metrics").status_code == 404  # METRICS_TOKEN unset: not served
    with override_settings(METRICS_TOKEN=TOKEN):
        assert Client().get("/metrics").status_code == 403
        assert Client().get("/metrics", headers={"Authorization": "Bearer nope"}
                            ).status_code == 403


@pytest.mark.django_db
def test_metrics_count_requests_and_read_the_webhook_queue() -> None:
    Client().get("/healthz")
    GRAPH_ERRORS.labels("131047").inc()
    InboundDelivery.objects.create(received_at=timezone.now() - timedelta(seconds=90), body="{}")
    InboundDelivery.objects.create(received_at=timezone.now(), body="{}", state="failed")
    with override_settings(METRICS_TOKEN=TOKEN):
        answer = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    text = answer.content.decode()
    assert 'wbcrm_http_requests_total{method="GET",status="200",view="healthz"}' in text
    assert 'wbcrm_http_request_duration_seconds_count{view="healthz"}' in text
    assert 'wbcrm_graph_api_errors_total{code="131047"}' in text
    assert "wbcrm_inbound_deliveries_waiting 1.0" in text
    assert "wbcrm_inbound_deliveries_failed 1.0" in text
    oldest = next(line for line in text.splitlines()
                  if line.startswith("wbcrm_webhook_oldest_waiting_seconds "))
    assert 89 < float(oldest.split()[1]) < 200
    for family in ("wbcrm_campaign_sends_total", "wbcrm_webhook_processing_lag_seconds",
                   "wbcrm_webhook_max_lag_last_minute_seconds"):
        assert f"# TYPE {family}" in text

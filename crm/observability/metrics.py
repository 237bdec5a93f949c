"""The Prometheus metrics of the app, and the gauges read from the database at each scrape.

Counters and histograms live in the process that counts (a web process, a Celery worker);
with PROMETHEUS_MULTIPROC_DIR set (one folder per machine, emptied at start) every process of
the machine writes there and /metrics adds them up. Webhook queue gauges are read from the
database when scraped, so they are right whichever process answers.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, F, Max, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from crm.models import DeliveryState, InboundDelivery

REQUESTS = Counter("wbcrm_http_requests_total", "HTTP requests answered, by view and status.",
                   ["view", "method", "status"])
LATENCY = Histogram("wbcrm_http_request_duration_seconds", "Time to answer, by view.", ["view"],
                    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
PROCESSING_LAG = Histogram(
    "wbcrm_webhook_processing_lag_seconds",
    "From a delivery's acceptance to its processing by a worker.",
    buckets=(.05, .1, .25, .5, 1, 2, 5, 10, 30, 60, 300, 3600))
CAMPAIGN_SENDS = Counter("wbcrm_campaign_sends_total",
                         "Campaign messages sent, by sending number and outcome.",
                         ["number", "outcome"])
GRAPH_ERRORS = Counter("wbcrm_graph_api_errors_total", "Graph API errors, by Meta's code.",
                       ["code"])


class WebhookQueue(Collector):
    """Deliveries waiting, the age of the oldest, failed ones, and the last minute's lag."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        waiting = InboundDelivery.objects.filter(state=DeliveryState.PENDING).aggregate(
            count=Count("id"), oldest=Min("received_at"))
        failed = InboundDelivery.objects.filter(state=DeliveryState.FAILED).count()
        recent = InboundDelivery.objects.filter(
            received_at__gte=now - timedelta(minutes=10), processed_at__gte=now -
            timedelta(minutes=1), state=DeliveryState.DONE,
        ).aggregate(lag=Max(F("processed_at") - F("received_at")))
        yield GaugeMetricFamily("wbcrm_inbound_deliveries_waiting",
                                "Accepted deliveries no worker has processed yet.",
                                value=waiting["count"])
        oldest = (now - waiting["oldest"]).total_seconds() if waiting["oldest"] else 0.0
        yield GaugeMetricFamily("wbcrm_webhook_oldest_waiting_seconds",
                                "Age of the oldest waiting delivery (0 when none waits).",
                                value=oldest)
        yield GaugeMetricFamily("wbcrm_inbound_deliveries_failed",
                                "Deliveries kept as failed after their last try (replayable).",
                                value=failed)
        lag = recent["lag"].total_seconds() if recent["lag"] else 0.0
        yield GaugeMetricFamily("wbcrm_webhook_max_lag_last_minute_seconds",
                                "Longest acceptance-to-processing time of the last minute.",
                                value=lag)


def exposition() -> bytes:
    """The text format of every metric: this process's (or the machine's) and the queue's."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY, PROCESSING_LAG, CAMPAIGN_SENDS, GRAPH_ERRORS):
            registry.register(collector)
    registry.register(WebhookQueue())
    return generate_latest(registry)

"""/healthz (the process answers), /readyz (PostgreSQL, Redis, RabbitMQ reachable), /metrics.

/metrics is protected by a token: with METRICS_TOKEN empty it answers 404, else it wants
`Authorization: Bearer <METRICS_TOKEN>` (Prometheus' `authorization` setting), 403 otherwise.
"""
from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from crm.observability.health import checks
from crm.observability.metrics import exposition

logger = logging.getLogger("crm.observability")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process serves requests; touches nothing else."""
    return HttpResponse("ok\n", content_type="text/plain")


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when PostgreSQL, Redis and RabbitMQ answer; 503 naming what does not."""
    results = checks()
    ready = all(ok for ok, _ in results.values())
    body = {"ready": ready, "checks": {name: "ok" if ok else problem
                                       for name, (ok, problem) in results.items()}}
    return JsonResponse(body, status=200 if ready else 503)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for a scraper holding METRICS_TOKEN."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Not found: set METRICS_TOKEN to serve /metrics\n", status=404,
                            content_type="text/plain")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return HttpResponse("Forbidden: send Authorization: Bearer <METRICS_TOKEN>\n",
                            status=403, content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE)

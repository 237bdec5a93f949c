"""Counts every request by view and status, and times it (crm.observability.metrics)."""
from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from crm.observability.metrics import LATENCY, REQUESTS


def request_metrics(get_response: Callable[[HttpRequest], HttpResponse]
                    ) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware: the view's name as label (never the path: ids would make endless labels)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = get_response(request)
        match = request.resolver_match
        view = (match.view_name or match._func_path) if match is not None else "unmatched"
        REQUESTS.labels(view, request.method, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)
        return response

    return middleware

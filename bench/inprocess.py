"""Measurements made inside Django against DATABASE_URL: setup, queries per request, plans, cost.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB python bench/inprocess.py setup ORG_CODE
    ... queries ORG_CODE | explain ORG_CODE | overhead ORG_CODE
    DATABASE_URL=... PAIRED_DATABASE=OTHER_DB python bench/inprocess.py paired ORG_CODE
"""
from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-key")  # DEBUG off: crm.settings needs a key
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")

import django  # noqa: E402

django.setup()

from django.db import connection, connections  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import viewsets  # noqa: E402

from crm.api.resources import RESOURCES  # noqa: E402
from crm.api.serializers import serializer_for  # noqa: E402
from crm.models import ApiToken, Customer, Message, Organization, Role, User  # noqa: E402
from tenancy.context import tenant_context, unscoped  # noqa: E402

BENCH_USER = "bench_admin"


def organization(code: str) -> Organization:
    with unscoped():  # the benchmark picks its tenant by code
        return Organization.objects.get(code=code)


def setup(code: str) -> None:
    """Print a fresh API token of an ORG_ADMIN of `code` (created on first use)."""
    org = organization(code)
    with unscoped():  # roles are platform data
        role, _ = Role.objects.get_or_create(name=Role.ORG_ADMIN,
                                             defaults={"display_name": "Org admin"})
    with tenant_context(org):
        user = User.objects.filter(username=BENCH_USER).first()
        if user is None:
            user = User.objects.create_user(BENCH_USER, "bench-password", first_name="B",
                                            last_name="A", phone_number="1", role=role,
                                            email="bench@example.com")
        _, key = ApiToken.issue(user)
    print(key)


def _client(code: str) -> Client:
    org = organization(code)
    with tenant_context(org):
        user = User.objects.get(username=BENCH_USER)
        _, key = ApiToken.issue(user)
    return Client(HTTP_AUTHORIZATION=f"Token {key}", HTTP_HOST="127.0.0.1")


def queries(code: str) -> None:
    """Queries per list request, at two page sizes, for every resource."""
    client = _client(code)
    print(f"{'list endpoint':<40}{'page 10':>9}{'page 100':>10}")
    for resource in RESOURCES:
        counts = []
        for size in (10, 100):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(f"/api/v1/{resource.prefix}/", {"page_size": size})
            assert response.status_code == 200, (resource.prefix, response.status_code)
            counts.append(len(captured))
        print(f"/api/v1/{resource.prefix}/".ljust(40) + f"{counts[0]:>9}{counts[1]:>10}")


def explain(code: str) -> None:
    """EXPLAIN ANALYZE of the messages and customers list queries of one organization."""
    org = organization(code)
    with tenant_context(org):
        for label, queryset in (
            ("messages list", Message.objects.all()[:50]),
            ("messages count", Message.objects.all()),
            ("customers list", Customer.objects.all()[:50]),
        ):
            print(f"-- {label}")
            if label.endswith("count"):
                sql, params = queryset.query.get_compiler(using="default").as_sql()
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM ({sql}) q", params)
                    print("\n".join(row[0] for row in cursor.fetchall()))
            else:
                print(queryset.explain(analyze=True))


MESSAGES = next(resource for resource in RESOURCES if resource.model is Message)


class UnscopedMessages(viewsets.ReadOnlyModelViewSet):
    """The same list without the tenant layer: a hand-written organization filter."""

    model = Message  # same authentication, role permission, filters and ordering
    serializer_class = serializer_for(Message)
    filterset_fields = MESSAGES.filters
    ordering_fields = list(MESSAGES.ordering)
    organization_id = None

    def list(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        with unscoped():  # the baseline: no scoped manager, an explicit filter instead
            return super().list(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return Message.objects.filter(organization_id=self.organization_id)


urlpatterns = [path("unscoped/messages/", UnscopedMessages.as_view({"get": "list"}))]


def paired(code: str, pairs: int = 1500) -> None:
    """The scoped messages list against two databases, one request each in turn, in one process.

    `default` is DATABASE_URL, the other database PAIRED_DATABASE (same server and role). Both
    connections stay open and the requests alternate one by one (the order flips every pair), so
    the machine's drift, which moves a 15 ms request by several percent from one second to the
    next, weighs on both alike. The garbage collector runs between pairs, never inside a timed
    request: left on, its pauses fell on one position of the alternation and made the same
    database look 10% slower than itself. Prints, per database, the median and mean ms per
    request and the mean ms inside the database, then the median of the per-pair ratios.
    """
    settings_dict = connections["default"].settings_dict
    wrapper_class = type(connections["default"])
    names = {"first": settings_dict["NAME"], "second": os.environ["PAIRED_DATABASE"]}
    wrappers = {label: wrapper_class({**settings_dict, "NAME": name}, "default")
                for label, name in names.items()}  # built alike, so neither has an edge
    clients, in_database = {}, dict.fromkeys(wrappers, 0.0)
    for label, wrapper in wrappers.items():
        connections["default"] = wrapper
        clients[label] = _client(code)

        def timed(execute, sql, params, many, context, label=label):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                in_database[label] += time.perf_counter() - started

        wrapper.execute_wrappers.append(timed)
    timings: dict[str, list[float]] = {label: [] for label in wrappers}
    gc.collect()
    gc.disable()
    for number in range(-100, pairs):  # the first 100 pairs warm up
        if number == 0:
            timings, in_database = {label: [] for label in wrappers}, dict.fromkeys(wrappers, 0.0)
        if number % 50 == 0:
            gc.collect()
        for label in (list(wrappers) if number % 2 else list(reversed(wrappers))):
            connections["default"] = wrappers[label]
            started = time.perf_counter()
            assert clients[label].get("/api/v1/messages/").status_code == 200
            timings[label].append(time.perf_counter() - started)
    gc.enable()
    for label, values in timings.items():
        median = sorted(values)[len(values) // 2]
        print(f"{label} {median * 1000:.3f} {sum(values) / pairs * 1000:.3f} "
              f"{in_database[label] / pairs * 1000:.3f}")
    ratios = sorted(a / b for a, b in zip(timings["first"], timings["second"]))  # pair by pair
    print(f"ratio {ratios[len(ratios) // 2]:.4f}")


def overhead(code: str, rounds: int = 200) -> None:
    """Median time of the scoped list endpoint against its unscoped equivalent, in process.

    Both run through the same middleware, authentication, permission, filters and serializer;
    the rounds alternate so that drift hits both alike.
    """
    client = _client(code)
    UnscopedMessages.organization_id = organization(code).pk
    cases = {"scoped (API + tenant layer)": ("crm.urls", "/api/v1/messages/"),
             "unscoped equivalent": (__name__, "/unscoped/messages/")}
    timings: dict[str, list[float]] = {label: [] for label in cases}
    for round_number in range(12):
        for label, (urlconf, url) in cases.items():
            with override_settings(ROOT_URLCONF=urlconf):
                started = time.perf_counter()
                for _ in range(rounds):
                    assert client.get(url).status_code == 200
                if round_number:  # the first round warms up
                    timings[label].append((time.perf_counter() - started) / rounds)
    medians = {label: sorted(values)[len(values) // 2] for label, values in timings.items()}
    base = medians["unscoped equivalent"]
    for label, seconds in medians.items():
        print(f"{label:<30} {seconds * 1000:7.2f} ms/request  ({seconds / base - 1:+.1%})")


if __name__ == "__main__":
    command, code = sys.argv[1], sys.argv[2]
    commands = {"setup": setup, "queries": queries, "explain": explain, "overhead": overhead,
                "paired": paired}
    commands[command](code)

"""Fixtures: every test database holds two organizations, A and B, each with its own staff."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.fake_graph import FakeGraph, FakeGraphServer
from crm.models import Organization
from crm.whatsapp.client import use_transport
from tenancy.context import get_state, tenant_context, unscoped
from tenancy.context import TenantState

pytest_plugins = ["tests.celery_support"]


@pytest.fixture(autouse=True)
def _no_leaked_organization() -> Iterator[None]:
    """Each test starts and ends with no organization active."""
    assert get_state() == TenantState(), "a previous test leaked an active organization"
    yield
    assert get_state() == TenantState(), "this test left an organization active"


@pytest.fixture(autouse=True)
def _two_organizations(request: pytest.FixtureRequest) -> None:
    """Any test that touches the database gets organizations A and B."""
    if {"db", "transactional_db", "django_db_setup"} & set(request.fixturenames) or (
        request.node.get_closest_marker("django_db")
    ):
        request.getfixturevalue("org_a")
        request.getfixturevalue("org_b")


@pytest.fixture
def org_a(db: None) -> Organization:
    """Organization A."""
    with unscoped():  # organizations are shared rows; creating tenants is platform work
        org, _ = Organization.objects.get_or_create(
            code="org-a", defaults={"name": "Org A", "slug": "org-a"}
        )
    return org


@pytest.fixture
def org_b(db: None) -> Organization:
    """Organization B."""
    with unscoped():
        org, _ = Organization.objects.get_or_create(
            code="org-b", defaults={"name": "Org B", "slug": "org-b"}
        )
    return org


@pytest.fixture
def in_a(org_a: Organization) -> Iterator[Organization]:
    """Run the test as organization A."""
    with tenant_context(org_a):
        yield org_a


@pytest.fixture
def in_b(org_b: Organization) -> Iterator[Organization]:
    """Run the test as organization B."""
    with tenant_context(org_b):
        yield org_b


@pytest.fixture
def fake_graph(settings: Any) -> Iterator[FakeGraph]:
    """Meta's Graph API faked in process: every GraphClient calls it; no socket, no retry waits."""
    settings.WHATSAPP_GRAPH_BACKOFF = 0
    fake = FakeGraph()
    with use_transport(fake.transport()):
        yield fake


@pytest.fixture
def fake_graph_server(settings: Any) -> Iterator[FakeGraphServer]:
    """The fake Graph API on a real 127.0.0.1 socket (random port), set as WHATSAPP_GRAPH_URL."""
    with FakeGraphServer() as server:
        settings.WHATSAPP_GRAPH_URL = server.url
        settings.WHATSAPP_GRAPH_BACKOFF = 0
        yield server

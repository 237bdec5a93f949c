"""Fixtures: every test database holds two organizations, A and B, each with its own staff."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bench.fake_graph import FakeGraph, FakeGraphServer
from crm.models import Customer, Message, Organization, Template
from crm.whatsapp.client import use_transport
from tenancy.context import TenantState, get_state, tenant_context, unscoped
from tests.legacy import LegacyDatabases


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


@dataclass
class World:
    """Two organizations' conversations and templates."""

    a: Organization
    b: Organization
    customer_a: Customer
    customer_b: Customer
    message_a: Message
    message_b: Message


@pytest.fixture
def world(org_a: Organization, org_b: Organization) -> World:
    """A customer with one message in each organization, and templates: shared, A's, B's."""
    customers, messages = {}, {}
    for org in (org_a, org_b):
        with tenant_context(org):
            customers[org.code] = Customer.objects.create(wa_id="919800000001", name=org.code)
            messages[org.code] = Message.objects.create(
                customer=customers[org.code], body=f"hello from {org.code}"
            )
            Template.objects.create(
                template_name=f"{org.code}-welcome", template_body={}, template_vars={}
            )
    with unscoped():  # shared templates are written by platform code only
        Template.objects.create(template_name="shared-welcome", template_body={}, template_vars={})
    return World(org_a, org_b, customers["org-a"], customers["org-b"], messages["org-a"],
                 messages["org-b"])


@pytest.fixture(scope="session")
def legacy() -> Iterator[LegacyDatabases]:
    """Template and migrated databases shared by the legacy modules (each state built once per
    test process), dropped at the end."""
    databases = LegacyDatabases()
    try:
        yield databases
    finally:
        databases.close()

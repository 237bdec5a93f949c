"""Fixtures: every test database holds two organizations, A and B, each with its own staff."""
from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import override_settings
from django.db import connection, connections

from bench.fake_graph import FakeGraph, FakeGraphServer
from bench.fake_razorpay import FakeRazorpay
from crm.models import Customer, Message, Organization, Template
from crm.payments.razorpay import client as razorpay_client
from crm.whatsapp.client import use_transport
from tenancy.context import TenantState, get_state, tenant_context, unscoped
from tests.legacy import LegacyDatabases
from tests.planting import PLANT_FUNCTION
from tests.scheduling import SharedFixtureScheduling

pytest_plugins = ["tests.celery_support"]


# The role the tests serve as: no superuser, no BYPASSRLS, owns nothing; the policies bind it.
APP_ROLE = "wbcrm_test_app"


def _connect_as(role: str) -> None:
    """Let every connection (each thread opens its own) log in as `role` from now on."""
    for alias in connections:
        connections[alias].close()
        connections[alias].settings_dict["USER"] = role


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: object) -> Iterator[None]:
    """The owner creates and migrates the test database; the tests then run as the app role."""
    if connection.vendor != "postgresql":
        yield
        return
    owner = connection.settings_dict["USER"]
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        call_command("tenancy_roles", owner=owner, app=APP_ROLE, stdout=io.StringIO())
        with connection.cursor() as cursor:
            # Test-only: transactional tests empty the tables with TRUNCATE between tests.
            cursor.execute(f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
            cursor.execute(PLANT_FUNCTION)  # tests.planting: legacy rows around the keys
    _connect_as(APP_ROLE)
    yield
    _connect_as(owner)  # the owner drops the test database
    with django_db_blocker.unblock(), connection.cursor() as cursor:  # type: ignore[attr-defined]
        # Sessions left by threads and worker processes of the tests would make the drop fail
        # and the next run find the database still there.
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    connection.close()


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> SharedFixtureScheduling:
    """The tests of each shared expensive database in one worker (tests/scheduling.py)."""
    return SharedFixtureScheduling(config, log)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Isolation suites (`usefixtures("python_scope")`) run twice: Python layer on, then off."""
    if "python_scope" in metafunc.fixturenames:
        metafunc.parametrize("python_scope", ["python-scope", "database-alone"], indirect=True)


@pytest.fixture
def python_scope(request: pytest.FixtureRequest, settings: Any) -> bool:
    """In `database-alone` the Python scope is off: PostgreSQL's policies alone must isolate."""
    if request.param == "python-scope":
        return True
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no row-level security: there the Python layer alone isolates")
    settings.TENANCY_PYTHON_SCOPE = False
    return False


@pytest.fixture(autouse=True)
def _own_cache_keys() -> Iterator[None]:
    """Each test counts throttles and sign-in failures afresh: a cache key prefix of its own."""
    default = django_settings.CACHES["default"]
    prefix = f"{default['KEY_PREFIX']}:{uuid.uuid4().hex[:8]}"
    with override_settings(CACHES={"default": {**default, "KEY_PREFIX": prefix}}):
        yield


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
def fake_razorpay() -> Iterator[FakeRazorpay]:
    """Razorpay faked in process: every RazorpayClient calls it; no socket."""
    fake = FakeRazorpay()
    with razorpay_client.use_transport(fake.transport()):
        yield fake


@pytest.fixture
def fake_graph_server(settings: Any) -> Iterator[FakeGraphServer]:
    """The fake Graph API on a real 127.0.0.1 socket (random port), set as WHATSAPP_GRAPH_URL."""
    with FakeGraphServer() as server:
        settings.WHATSAPP_GRAPH_URL = server.url
        settings.WHATSAPP_MEDIA_ORIGINS = [server.url]
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

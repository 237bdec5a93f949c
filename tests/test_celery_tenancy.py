"""Celery tasks run as the organization that queued them: eager mode, and a real worker."""
from __future__ import annotations

import json

import pytest

from crm.celery import app
from crm.models import Organization
from tenancy.context import get_state, tenant_context, unscoped
from tenancy.context import TenantState
from tests.celery_probe import (
    count_every_organization, fail_in_organization, report_database_session, report_organization,
)
from tests.celery_support import probe_reports, wait_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.usefixtures("redis_keys")


def _reports(name: str) -> list[dict]:
    return [json.loads(item) for item in probe_reports(name)]


def _customers(org_a: Organization, org_b: Organization) -> None:
    with tenant_context(org_a):
        CustomerFactory.create_batch(2)
    with tenant_context(org_b):
        CustomerFactory()


@pytest.mark.django_db
def test_eager_task_runs_as_the_queuing_organization_and_resets(
    eager: None, org_a: Organization, org_b: Organization
) -> None:
    _customers(org_a, org_b)
    with tenant_context(org_a):
        report_organization.delay("a")
        assert get_state() == TenantState(organization_id=org_a.pk)
    with tenant_context(org_b):
        report_organization.delay("b")
    assert _reports("a") == [{"count": 2, "organization": str(org_a.pk), "attempt": 0}]
    assert _reports("b") == [{"count": 1, "organization": str(org_b.pk), "attempt": 0}]


@pytest.mark.django_db
def test_eager_task_queued_with_none_fails_closed_even_inside_unscoped(eager: None) -> None:
    report_organization.delay("none")
    with unscoped():
        report_organization.delay("none")
    closed = {"count": "TenantNotSetError", "organization": "", "attempt": 0}
    assert _reports("none") == [closed, closed]


@pytest.mark.django_db
def test_eager_retries_keep_the_organization(eager: None, org_a: Organization) -> None:
    # Propagating eager errors would raise the Retry itself instead of running the retry.
    app.conf.task_eager_propagates = False
    try:
        with tenant_context(org_a):
            CustomerFactory()
            report_organization.delay("retry", retries=2)
    finally:
        app.conf.task_eager_propagates = True
    assert [(r["organization"], r["count"], r["attempt"]) for r in _reports("retry")] == [
        (str(org_a.pk), 1, 0), (str(org_a.pk), 1, 1), (str(org_a.pk), 1, 2)
    ]


@pytest.mark.django_db
def test_eager_failure_resets_the_organization(eager: None, org_a: Organization) -> None:
    with pytest.raises(RuntimeError, match=str(org_a.pk)):
        with tenant_context(org_a):
            fail_in_organization.delay()
    assert get_state() == TenantState()


@pytest.mark.django_db
def test_declared_cross_organization_task_sees_everyone(
    eager: None, org_a: Organization, org_b: Organization
) -> None:
    _customers(org_a, org_b)
    count_every_organization.delay("all")
    assert _reports("all") == [{"count": 3}]


def test_real_worker_runs_each_task_as_its_organization(
    workers, org_a: Organization, org_b: Organization
) -> None:
    """Over RabbitMQ: the header travels; none fails closed; a retry is re-published in A."""
    _customers(org_a, org_b)
    workers.start(concurrency=2)
    with tenant_context(org_a):
        report_organization.delay("a", retries=1)
    with tenant_context(org_b):
        report_organization.delay("b")
    report_organization.delay("none")
    wait_for(lambda: len(probe_reports("a")) == 2 and probe_reports("b") and probe_reports("none"))
    assert _reports("a") == [
        {"count": 2, "organization": str(org_a.pk), "attempt": 0},
        {"count": 2, "organization": str(org_a.pk), "attempt": 1},
    ]
    assert _reports("b") == [{"count": 1, "organization": str(org_b.pk), "attempt": 0}]
    assert _reports("none") == [{"count": "TenantNotSetError", "organization": "", "attempt": 0}]


def test_a_worker_keeps_its_database_session_across_tasks_and_organizations(
    workers, org_a: Organization, org_b: Organization
) -> None:
    """One session for a thread's tasks (CONN_MAX_AGE), never one per task; each task still
    sees only its own organization on it."""
    _customers(org_a, org_b)
    workers.start(concurrency=1, CONN_MAX_AGE="60")
    report_database_session.delay("session")
    with tenant_context(org_a):
        report_organization.delay("a")
    with tenant_context(org_b):
        report_organization.delay("b")
    report_database_session.delay("session")
    wait_for(lambda: len(probe_reports("session")) == 2)
    first, second = _reports("session")
    assert first["pid"] == second["pid"]
    assert [_reports("a")[0]["count"], _reports("b")[0]["count"]] == [2, 1]

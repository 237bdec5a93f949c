"""The cached "no subscription" of crm.outgoing.subscribers: an organization without one pays no
query per event, a new or turned-on subscription is seen at the next event, one organization's
answer never hides another's subscriptions, and without the cache every event is a query."""
from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import WebhookDelivery, WebhookSubscription
from crm.outgoing import emit, subscribers
from tenancy.context import tenant_context, unscoped
from tests.factories import WebhookSubscriptionFactory

DATA = {"lead": {"first_name": "Asha"}}


def _emit(org: Any) -> int:
    """Emit lead.created as `org`; the statements it took."""
    with tenant_context(org), CaptureQueriesContext(connection) as queries:
        emit("lead.created", DATA)
    return len(queries)


def _deliveries(org: Any) -> int:
    with tenant_context(org):
        return WebhookDelivery.objects.count()


def _committed(org: Any, django_capture_on_commit_callbacks: Any, **fields: Any
               ) -> WebhookSubscription:
    """A subscription of `org` saved in a transaction that commits (its after-commit work run)."""
    with django_capture_on_commit_callbacks(execute=True):
        with tenant_context(org), transaction.atomic():
            return WebhookSubscriptionFactory(**fields)


def test_an_organization_without_subscriptions_pays_one_query_then_none(org_a) -> None:
    assert _emit(org_a) == 1
    assert _emit(org_a) == 0
    assert _emit(org_a) == 0


def test_a_new_subscription_is_seen_at_the_next_event(org_a,
                                                      django_capture_on_commit_callbacks) -> None:
    _emit(org_a)
    _committed(org_a, django_capture_on_commit_callbacks)
    _emit(org_a)
    assert _deliveries(org_a) == 1


def test_a_subscription_turned_back_on_is_seen_at_the_next_event(
        org_a, django_capture_on_commit_callbacks) -> None:
    subscription = _committed(org_a, django_capture_on_commit_callbacks, is_active=False)
    _emit(org_a)
    with django_capture_on_commit_callbacks(execute=True):
        with tenant_context(org_a), transaction.atomic():
            subscription.is_active = True
            subscription.save()
    _emit(org_a)
    assert _deliveries(org_a) == 1


@pytest.mark.usefixtures("python_scope")
def test_one_organizations_none_never_hides_anothers_subscription(
        org_a, org_b, django_capture_on_commit_callbacks) -> None:
    _committed(org_a, django_capture_on_commit_callbacks)
    assert _emit(org_b) == 1 and _emit(org_b) == 0  # B has none, and keeps that
    _emit(org_a)
    _emit(org_a)
    assert (_deliveries(org_a), _deliveries(org_b)) == (2, 0)
    _committed(org_b, django_capture_on_commit_callbacks)
    _emit(org_b)
    assert (_deliveries(org_a), _deliveries(org_b)) == (2, 1)


def test_a_none_found_while_a_subscription_commits_is_not_trusted(
        org_a, django_capture_on_commit_callbacks) -> None:
    """A process reads the token, finds no subscription, and keeps "none" only after another
    committed one: that "none" is under the old token, so the next event queries."""
    generation_key, none_key = subscribers._keys(org_a.pk)
    with tenant_context(org_a):
        assert subscribers.wanting("lead.created") == []
    token = cache.get(generation_key)
    _committed(org_a, django_capture_on_commit_callbacks)
    cache.set(none_key, token)  # the late write of the process that raced the commit
    _emit(org_a)
    assert _deliveries(org_a) == 1


def test_without_the_cache_every_event_is_a_query(org_a, monkeypatch,
                                                  django_capture_on_commit_callbacks) -> None:
    class Unreachable:
        def __getattr__(self, name: str) -> Any:
            raise ConnectionError("no cache")

    monkeypatch.setattr(subscribers, "cache", Unreachable())
    assert _emit(org_a) == 1 and _emit(org_a) == 1
    _committed(org_a, django_capture_on_commit_callbacks)
    _emit(org_a)
    assert _deliveries(org_a) == 1


def test_across_organizations_nothing_is_kept(org_a) -> None:
    """Inside unscoped() no organization's token would renew a kept answer: always a query."""
    for _ in range(2):
        with unscoped(), CaptureQueriesContext(connection) as queries:
            assert subscribers.wanting("lead.created") == []
        assert len(queries) == 1

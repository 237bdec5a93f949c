"""The per-process cache of receiving numbers: one lookup per number and TTL."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.db import connection

from crm.models import WhatsAppNumber
from crm.webhooks import numbers
from tenancy.context import tenant_context, unscoped
from tests.factories import WhatsAppNumberFactory


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    numbers._recent.clear()
    yield
    numbers._recent.clear()


@override_settings(WHATSAPP_NUMBER_CACHE_SECONDS=30)
def test_a_number_is_looked_up_once_per_ttl(org_a, monkeypatch) -> None:
    with tenant_context(org_a):
        number = WhatsAppNumberFactory()
    with CaptureQueriesContext(connection) as first:
        assert numbers.find_receivers([number.phone_number_id, "unknown"])[
            number.phone_number_id].organization_id == org_a.pk
    with unscoped():
        WhatsAppNumber.objects.filter(pk=number.pk).update(is_active=False)
    with CaptureQueriesContext(connection) as second:
        found = numbers.find_receivers([number.phone_number_id, "unknown"])
    assert (len(first), len(second)) == (1, 0)
    assert found[number.phone_number_id].problem is None  # still the cached answer
    clock = numbers.time.monotonic() + 31
    monkeypatch.setattr(numbers.time, "monotonic", lambda: clock)
    assert numbers.find_receivers([number.phone_number_id])[number.phone_number_id].problem


@override_settings(WHATSAPP_NUMBER_CACHE_SECONDS=0)
def test_no_cache_when_the_ttl_is_zero(org_a) -> None:
    with tenant_context(org_a):
        number = WhatsAppNumberFactory()
    numbers.find_receivers([number.phone_number_id])
    assert numbers._recent == {}

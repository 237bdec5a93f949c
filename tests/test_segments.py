"""Segments: each filter, the live counts, checked filters (400 naming them), and isolation
(another organization's segment is a 404; counts never include its customers), the Python
scope off too."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Customer, Segment
from crm.segments.errors import InvalidFilter
from crm.segments.filters import check_filters
from crm.segments.queries import members
from tenancy.context import tenant_context
from tests.factories import (
    AttributeDefinitionFactory,
    CustomerFactory,
    CustomerLabelFactory,
    LabelFactory,
    OrderFactory,
    ReferrerTrackingFactory,
    SegmentFactory,
)
from tests.test_api import client_for, staff


def _world() -> dict[str, Customer]:
    """Customers each matching one filter, in the active organization."""
    now = timezone.now()
    AttributeDefinitionFactory(key="city")
    AttributeDefinitionFactory(key="visits", type="number")
    vip = LabelFactory(name="VIP")
    people = {
        "labelled": CustomerFactory(last_message_at=now - timedelta(days=40)),
        "pune": CustomerFactory(attributes={"city": "Pune", "visits": 3}, last_message_at=now),
        "opted_out": CustomerFactory(marketing_opt_out_at=now, last_message_at=None),
        "ordered": CustomerFactory(last_message_at=None),
        "from_ad": CustomerFactory(last_message_at=None),
    }
    CustomerLabelFactory(customer=people["labelled"], label=vip)
    OrderFactory(customer=people["ordered"])
    ReferrerTrackingFactory(customer=people["from_ad"], source_id="ad-7")
    return people


@pytest.mark.parametrize(("filters", "expected"), [
    ({"labels": ["vip"]}, {"labelled"}),
    ({"attributes": {"city": "Pune", "visits": "3"}}, {"pune"}),
    ({"opted_out": True}, {"opted_out"}),
    ({"has_ordered": True}, {"ordered"}),
    ({"source_ad": "ad-7"}, {"from_ad"}),
    ({"source_ad": "any"}, {"from_ad"}),
    ({"last_message_before": (timezone.now() - timedelta(days=30)).date().isoformat()},
     {"labelled"}),
    ({"last_message_after": timezone.now().date().isoformat(), "opted_out": False}, {"pune"}),
])
def test_each_filter_selects_its_customers(in_a, org_b, filters, expected) -> None:
    people = _world()
    names = {customer.pk: name for name, customer in people.items()}
    found = {names[pk] for pk in members(check_filters(filters)).values_list("pk", flat=True)}
    assert found == expected
    with tenant_context(org_b):  # B has none of A's customers, and its own match nothing of A's
        assert not members(check_filters({"opted_out": False})).filter(
            pk__in=list(names)).exists()


@pytest.mark.parametrize(("filters", "words"), [
    ([], "JSON object"),
    ({"colour": "red"}, "Unknown filter"),
    ({"labels": "vip"}, "labels"),
    ({"attributes": {"shoe": "9"}}, "no attribute"),
    ({"attributes": {"visits": "many"}}, "visits"),
    ({"last_message_after": "yesterday"}, "YYYY-MM-DD"),
    ({"opted_out": "no"}, "true or false"),
])
def test_a_wrong_filter_says_which(in_a, filters, words) -> None:
    AttributeDefinitionFactory(key="visits", type="number")
    with pytest.raises(InvalidFilter, match=words):
        check_filters(filters)


def test_segments_are_saved_and_counted_live(org_a, org_b) -> None:
    with tenant_context(org_a):
        _world()
    with tenant_context(org_b):
        CustomerFactory.create_batch(3)
    client = client_for(staff(org_a))
    preview = client.post("/api/v1/segments/count/", {"filters": {"opted_out": False}},
                          format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json() == {"count": 4, "opted_out": 0}
    created = client.post("/api/v1/segments/", {"name": "Everyone", "filters": {}}, format="json")
    assert created.status_code == 201, created.content
    count = client.get(f"/api/v1/segments/{created.json()['id']}/count/").json()
    assert count == {"count": 5, "opted_out": 1}
    with tenant_context(org_a):
        CustomerFactory()
    assert client.get(f"/api/v1/segments/{created.json()['id']}/count/").json()["count"] == 6
    bad = client.post("/api/v1/segments/", {"name": "Bad", "filters": {"colour": 1}},
                      format="json")
    assert bad.status_code == 400 and "filters" in bad.json()
    with tenant_context(org_a):
        assert list(Segment.objects.values_list("name", flat=True)) == ["Everyone"]


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_segment_is_a_404(org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = SegmentFactory()
    client = client_for(staff(org_a))
    assert client.get(f"/api/v1/segments/{theirs.pk}/").status_code == 404
    assert client.get(f"/api/v1/segments/{theirs.pk}/count/").status_code == 404
    assert client.patch(f"/api/v1/segments/{theirs.pk}/", {"name": "x"},
                        format="json").status_code == 404
    with tenant_context(org_a):
        CustomerFactory()
        mine = SegmentFactory()
    assert client.get(f"/api/v1/segments/{mine.pk}/count/").json()["count"] == 1

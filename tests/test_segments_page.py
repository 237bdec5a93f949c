"""The segments page: an ORG_ADMIN builds a segment from a form with a live count, no JSON;
agents read; another organization's segment, labels and customers never show (scope off too)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import AttributeDefinition, Role, Segment
from tenancy.context import tenant_context
from tests.factories import (
    CustomerFactory,
    CustomerLabelFactory,
    LabelFactory,
    OrderFactory,
    SegmentFactory,
)
from tests.test_admin_support import make_staff, signed_in

pytestmark = pytest.mark.usefixtures("python_scope")


@pytest.fixture
def customers(org_a, org_b) -> None:
    """In A: two VIPs from Pune (one opted out, one who ordered), one other; B has a VIP too."""
    for org in (org_a, org_b):
        with tenant_context(org):
            vip = LabelFactory(name="VIP")
            AttributeDefinition.objects.create(key="city", label="City")
            recent = timezone.now() - timedelta(days=2)
            asha = CustomerFactory(name="Asha", attributes={"city": "Pune"},
                                   last_message_at=recent)
            ravi = CustomerFactory(name="Ravi", attributes={"city": "Pune"},
                                   last_message_at=recent, marketing_opt_out_at=recent)
            CustomerFactory(name="Meera", attributes={"city": "Goa"}, last_message_at=recent)
            for customer in (asha, ravi):
                CustomerLabelFactory(customer=customer, label=vip)
            OrderFactory(customer=asha)
            if org == org_b:
                LabelFactory(name="B-only label")


FORM = {"name": "Pune VIPs", "labels": ["VIP"], "attribute_city": "Pune", "opted_out": "",
        "has_ordered": "", "source": ""}


def test_an_org_admin_builds_a_segment_from_the_form_with_a_live_count(org_a, customers) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    page = client.get("/contacts/segments/").content.decode()
    assert 'value="VIP"' in page and "B-only label" not in page  # A's labels only
    counted = client.post("/contacts/segments/count/", FORM)
    assert counted.status_code == 200
    assert 'data-count="2"' in counted.content.decode()  # B's VIP never counted
    assert "1 of them opted out" in counted.content.decode()
    narrower = client.post("/contacts/segments/count/",
                           {**FORM, "opted_out": "no", "has_ordered": "yes"})
    assert 'data-count="1"' in narrower.content.decode()
    saved = client.post("/contacts/segments/", {**FORM, "opted_out": "no"})
    assert saved.status_code == 302
    with tenant_context(org_a):
        segment = Segment.objects.get()
    assert segment.filters == {"labels": ["VIP"], "attributes": {"city": "Pune"},
                               "opted_out": False}
    listed = client.get("/contacts/segments/").content.decode()
    assert f'data-segment="{segment.pk}"' in listed and "<td data-count>1</td>" in listed
    members = client.get(f"/contacts/segments/{segment.pk}/members/").content.decode()
    assert "Asha" in members and "Ravi" not in members and "Meera" not in members
    changed = client.post(f"/contacts/segments/{segment.pk}/",
                          {**FORM, "name": "All Pune", "labels": []})
    assert changed.status_code == 302
    with tenant_context(org_a):
        segment.refresh_from_db()
    assert (segment.name, segment.filters) == ("All Pune", {"attributes": {"city": "Pune"}})
    assert 'value="All Pune"' in client.get(f"/contacts/segments/{segment.pk}/").content.decode()


def test_wrong_filters_say_which_and_save_nothing(org_a, customers) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = client.post("/contacts/segments/count/", {**FORM, "last_message_after": "someday"})
    assert answer.status_code == 400 and "Enter a valid date" in answer.content.decode()
    answer = client.post("/contacts/segments/", {**FORM, "source": "one", "source_ad": ""})
    assert answer.status_code == 400 and "give the ad" in answer.content.decode()
    answer = client.post("/contacts/segments/", {**FORM, "labels": ["B-only label"]})
    assert answer.status_code == 400  # not a choice in A
    client.post("/contacts/segments/", FORM)
    again = client.post("/contacts/segments/", FORM)
    assert again.status_code == 400 and "already has a segment named" in again.content.decode()
    with tenant_context(org_a):
        assert Segment.objects.count() == 1


def test_agents_read_segments_but_do_not_change_them(org_a, customers) -> None:
    with tenant_context(org_a):
        segment = SegmentFactory(name="VIPs", filters={"labels": ["VIP"]})
    agent = signed_in(make_staff(org_a, Role.AGENT))
    page = agent.get("/contacts/segments/").content.decode()
    assert "VIPs" in page and "Only an ORG_ADMIN changes segments." in page
    assert agent.post("/contacts/segments/", FORM).status_code == 403
    assert agent.post(f"/contacts/segments/{segment.pk}/delete/").status_code == 403
    with tenant_context(org_a):
        assert Segment.objects.count() == 1


def test_another_organizations_segment_is_a_404_on_the_page(org_a, org_b, customers) -> None:
    with tenant_context(org_b):
        theirs = SegmentFactory(name="Their VIPs", filters={"labels": ["VIP"]})
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    for url in (f"/contacts/segments/{theirs.pk}/", f"/contacts/segments/{theirs.pk}/members/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/contacts/segments/{theirs.pk}/", FORM).status_code == 404
    assert client.post(f"/contacts/segments/{theirs.pk}/delete/").status_code == 404
    assert "Their VIPs" not in client.get("/contacts/segments/").content.decode()
    with tenant_context(org_b):
        assert Segment.objects.get().name == "Their VIPs"

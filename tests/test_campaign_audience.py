"""`POST /api/v1/campaigns/<id>/audience/`: by customer ids, segment, label or file; a customer id
not of the organization is a 400 naming it and adds nothing; isolation with the Python scope
off too."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import CampaignCustomer, Customer
from tenancy.context import tenant_context
from tests.factories import (
    CampaignCustomerFactory,
    CampaignFactory,
    CustomerFactory,
    CustomerLabelFactory,
    LabelFactory,
    SegmentFactory,
)
from tests.test_api import client_for, staff


def _audience(org, campaign) -> set:
    with tenant_context(org):
        return set(CampaignCustomer.objects.filter(campaign=campaign)
                   .values_list("customer_id", flat=True))


def _url(campaign) -> str:
    return f"/api/v1/campaigns/{campaign.pk}/audience/"


@pytest.mark.usefixtures("python_scope")
def test_customer_ids_are_added_once_and_another_organizations_id_adds_nothing(
        org_a, org_b) -> None:
    with tenant_context(org_a):
        campaign = CampaignFactory()
        mine = CustomerFactory.create_batch(2)
        CampaignCustomerFactory(campaign=campaign, customer=mine[0])
    with tenant_context(org_b):
        theirs = CustomerFactory()
    client = client_for(staff(org_a))
    refused = client.post(_url(campaign), {"customer_ids": [str(mine[1].pk), str(theirs.pk)]},
                          format="json")
    assert refused.status_code == 400
    assert str(theirs.pk) in refused.json()["customer_ids"][0]
    assert _audience(org_a, campaign) == {mine[0].pk}
    added = client.post(_url(campaign), {"customer_ids": [str(c.pk) for c in mine]},
                        format="json")
    assert added.json() == {"added": 1, "audience": 2}
    assert _audience(org_a, campaign) == {c.pk for c in mine}


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_campaign_or_segment_is_refused(org_a, org_b) -> None:
    with tenant_context(org_b):
        their_campaign = CampaignFactory()
        their_segment = SegmentFactory(filters={})
        CustomerFactory()
    with tenant_context(org_a):
        campaign = CampaignFactory()
    client = client_for(staff(org_a))
    assert client.post(_url(their_campaign), {"label": "x"}, format="json").status_code == 404
    answer = client.post(_url(campaign), {"segment": str(their_segment.pk)}, format="json")
    assert answer.status_code == 400 and "segment" in answer.json()
    assert _audience(org_a, campaign) == set()


def test_a_segment_or_a_label_adds_its_customers(org_a, org_b) -> None:
    with tenant_context(org_a):
        campaign = CampaignFactory()
        CustomerFactory(marketing_opt_out_at=None)
        CustomerFactory(marketing_opt_out_at="2026-01-01T00:00:00Z")
        segment = SegmentFactory(filters={"opted_out": False})
        vip = LabelFactory(name="VIP")
        labelled = CustomerLabelFactory(label=vip).customer
    with tenant_context(org_b):
        CustomerFactory()
        LabelFactory(name="VIP")
    client = client_for(staff(org_a))
    assert client.post(_url(campaign), {"segment": str(segment.pk)},
                       format="json").json() == {"added": 2, "audience": 2}
    assert client.post(_url(campaign), {"label": "vip"},
                       format="json").json() == {"added": 0, "audience": 2}
    assert labelled.pk in _audience(org_a, campaign)
    answer = client.post(_url(campaign), {"label": "nope"}, format="json")
    assert answer.status_code == 400 and "label" in answer.json()
    answer = client.post(_url(campaign), {"label": "vip", "segment": str(segment.pk)},
                         format="json")
    assert answer.status_code == 400


def test_an_uploaded_file_imports_and_adds_its_contacts(org_a) -> None:
    with tenant_context(org_a):
        campaign = CampaignFactory()
    content = b"Phone,Name\n9876543210,Asha\n12345,Nobody\n"
    answer = client_for(staff(org_a)).post(
        _url(campaign), {"file": SimpleUploadedFile("list.csv", content)}, format="multipart")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["added"], body["audience"]) == (1, 1)
    assert body["import"]["rejected"] == [
        {"row": 3, "reason": "'12345' is not a valid phone number (read in IN)"}]
    with tenant_context(org_a):
        asha = Customer.objects.get(wa_id="919876543210")
    assert _audience(org_a, campaign) == {asha.pk}

"""The webhook's account fields (crm.webhooks.account): a template's review applied at once, a
number's quality and limit tier, an account's ban; each for its own organization only, shown to
the ORG_ADMIN on the number (API field and admin)."""
from __future__ import annotations

from typing import Any

import pytest

from crm.models import Organization, Role, Template, WhatsAppNumber
from crm.webhooks.ingest import ingest
from crm.webhooks.parsing import parse_payload
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import TemplateFactory, WhatsAppNumberFactory
from tests.test_admin_support import make_staff, signed_in
from tests.test_api import client_for

WABA_A, WABA_B = "400000000000001", "400000000000002"


def _deliver(account: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
    payload = {"object": "whatsapp_business_account", "entry": [
        {"id": account, "time": wp.BASE_TIME, "changes": [{"field": field, "value": value}]}]}
    return ingest([parse_payload(wp.body(payload))])[0].as_json()


@pytest.fixture
def accounts(org_a: Organization, org_b: Organization) -> dict[str, Any]:
    """Each organization: a number and a template (same name and Meta id) on its own account."""
    made: dict[str, Any] = {}
    for key, org, waba in (("a", org_a, WABA_A), ("b", org_b, WABA_B)):
        with tenant_context(org):
            made[f"number_{key}"] = WhatsAppNumberFactory(
                whatsapp_business_account_id=waba, display_number=f"+1 555-000 000{len(made)}")
            made[f"template_{key}"] = TemplateFactory(
                template_name="order_ready", status="PENDING", facebook_template_id="77",
                whatsapp_business_account_id=waba)
    return made


def _reload(org: Organization, row: Any) -> Any:
    with tenant_context(org):
        return type(row).objects.get(pk=row.pk)


@pytest.mark.usefixtures("python_scope")
def test_a_template_review_changes_its_status_at_once_in_its_organization_only(
        accounts: dict[str, Any], org_a: Organization, org_b: Organization) -> None:
    report = _deliver(WABA_A, "message_template_status_update", {
        "event": "APPROVED", "message_template_id": 77, "message_template_name": "order_ready",
        "message_template_language": "en_US", "reason": "NONE"})
    assert report["ignored"] == []
    assert _reload(org_a, accounts["template_a"]).status == "APPROVED"
    assert _reload(org_b, accounts["template_b"]).status == "PENDING"
    by_name = _deliver(WABA_A, "message_template_status_update", {
        "event": "REJECTED", "message_template_name": "order_ready",
        "message_template_language": accounts["template_a"].language})
    assert by_name["ignored"] == [] and _reload(org_a, accounts["template_a"]).status == "REJECTED"
    odd = _deliver(WABA_A, "message_template_status_update", {"event": "NONSENSE"})
    assert odd["ignored"][0]["reason"] == "nothing of this account matched"
    unknown = _deliver("999", "message_template_status_update", {"event": "APPROVED"})
    assert unknown["ignored"][0]["reason"] == "unknown WhatsApp Business Account"


@pytest.mark.usefixtures("python_scope")
def test_quality_limit_and_ban_are_stored_on_the_number_and_shown_to_the_admin(
        accounts: dict[str, Any], org_a: Organization, org_b: Organization) -> None:
    number_a = accounts["number_a"]
    report = _deliver(WABA_A, "phone_number_quality_update", {
        "display_phone_number": number_a.display_number.replace(" ", ""),
        "event": "FLAGGED", "current_limit": "TIER_1K"})
    assert report["ignored"] == []
    stored = _reload(org_a, number_a)
    assert (stored.quality_rating, stored.messaging_limit_tier) == ("RED", "TIER_1K")
    _deliver(WABA_A, "account_update", {
        "event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": ["DISABLE"],
                                                 "waba_ban_date": "2026-12-04"}})
    _deliver(WABA_A, "account_update", {
        "event": "ACCOUNT_RESTRICTION", "restriction_info": [
            {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
             "expiration": 1_800_000_000}]})
    stored = _reload(org_a, number_a)
    assert "RESTRICTED_BIZ_INITIATED_MESSAGING" in stored.account_restriction
    untouched = _reload(org_b, accounts["number_b"])
    assert (untouched.quality_rating, untouched.account_restriction) == (None, None)
    admin = make_staff(org_a, Role.ORG_ADMIN, "boss")
    listed = client_for(admin).get(f"/api/v1/whatsapp-numbers/{number_a.pk}/").json()
    assert listed["quality_rating"] == "RED" and listed["messaging_limit_tier"] == "TIER_1K"
    assert "RESTRICTED" in listed["account_restriction"] and "registration_pin" not in listed
    other = client_for(admin).get(f"/api/v1/whatsapp-numbers/{accounts['number_b'].pk}/")
    assert other.status_code == 404
    page = signed_in(admin).get("/admin/crm/whatsappnumber/")
    assert b"TIER_1K" in page.content
    _deliver(WABA_A, "account_update", {"event": "ACCOUNT_RESTRICTION_REMOVED"})
    assert _reload(org_a, number_a).account_restriction is None


def test_an_account_without_a_verified_number_gets_no_update(
        accounts: dict[str, Any], org_a: Organization) -> None:
    with tenant_context(org_a):
        WhatsAppNumber.objects.update(verification_status="pending")
    report = _deliver(WABA_A, "message_template_status_update", {
        "event": "APPROVED", "message_template_id": "77"})
    assert report["ignored"][0]["reason"] == "unknown WhatsApp Business Account"
    with tenant_context(org_a):
        assert Template.objects.get(pk=accounts["template_a"].pk).status == "PENDING"

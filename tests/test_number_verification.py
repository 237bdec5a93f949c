"""A WhatsApp number receives messages only once its organization proved control of it.

The hole: an ORG_ADMIN registered another business's phone_number_id and from then on received
its inbound messages. Now a new number (or a changed id or token) is pending until Meta answers
`GET /{phone_number_id}` with that id for the number's token; a pending number's deliveries are
acknowledged, logged and stored for nobody. Platform staff may vouch for a number by hand.
"""
from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client, override_settings

from bench.fake_graph import FakeGraph
from crm.models import Message, Organization, Role, WhatsAppNumber
from tenancy.context import tenant_context, unscoped
from tests import whatsapp_payloads as wp
from tests.factories import WhatsAppNumberFactory
from tests.test_admin_support import ALL, admin_url, make_staff, signed_in
from tests.test_api import client_for, staff

VICTIM = "106540352242922"  # another business's number, known to the attacker


@pytest.fixture(autouse=True)
def _webhook_settings() -> Any:
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET, WHATSAPP_VERIFY_TOKEN=wp.VERIFY_TOKEN):
        yield


def _deliver(text: str) -> dict[str, Any]:
    raw = wp.body(wp.delivery(wp.entry(wp.change(
        VICTIM, "15550001111", messages=[wp.text("919800000001", text)]
    ))))
    answer = Client().post("/webhooks/whatsapp/", raw, content_type="application/json",
                           headers={"X-Hub-Signature-256": wp.signature(raw, wp.SECRET)})
    assert answer.status_code == 200  # acknowledged either way: Meta must not redeliver
    return answer.json()


def _register(org: Organization, token: str = "attacker-token") -> tuple[Any, dict[str, Any]]:
    api = client_for(staff(org))
    answer = api.post("/api/v1/whatsapp-numbers/", {
        "phone_number_id": VICTIM, "display_number": "+1 555-000 1111", "access_token": token,
    }, format="json")
    assert answer.status_code == 201, answer.content
    return api, answer.json()


def _stored(org: Organization) -> list[str]:
    with tenant_context(org):
        return list(Message.objects.values_list("body", flat=True))


def test_a_number_meta_refuses_stays_pending_and_receives_nothing(
    org_a: Organization, fake_graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    fake_graph.fail(190, message="(fake) token not valid for this number", times=1)
    _, number = _register(org_a)
    assert number["verification_status"] == "pending"
    assert "Meta refused this access token" in number["verification_note"]
    call = fake_graph.calls[0]
    assert (call.method, call.path) == ("GET", f"/v21.0/{VICTIM}")
    with caplog.at_level(logging.WARNING, logger="crm.webhooks"):
        report = _deliver("the victim's customer writes")
    assert report["stored"]["messages"] == 0
    assert report["ignored"][0]["reason"].startswith("phone number not verified")
    assert "not verified" in caplog.text
    assert _stored(org_a) == []
    with unscoped():
        assert not Message.objects.exists()  # stored for nobody


def test_a_number_whose_token_meta_accepts_is_verified_and_receives(
    org_a: Organization, fake_graph: FakeGraph
) -> None:
    _, number = _register(org_a, token="the-real-token")
    assert number["verification_status"] == "verified" and number["verified_at"]
    assert fake_graph.calls[0].authorization == "Bearer the-real-token"
    assert _deliver("hello")["stored"]["messages"] == 1
    assert _stored(org_a) == ["hello"]


def test_meta_answering_for_another_id_leaves_it_pending(
    org_a: Organization, fake_graph: FakeGraph
) -> None:
    fake_graph.route("GET", r"/v[\d.]+/[^/]+", lambda fake, call, match: (200, {"id": "999"}))
    _, number = _register(org_a)
    assert number["verification_status"] == "pending"
    assert "another number" in number["verification_note"]


def test_unreachable_graph_api_leaves_it_pending(org_a: Organization) -> None:
    """No fake: the test settings point at a port nobody listens on."""
    _, number = _register(org_a)
    assert number["verification_status"] == "pending"
    assert "could not be reached" in number["verification_note"]


def test_changing_the_id_or_token_needs_proof_again(
    org_a: Organization, fake_graph: FakeGraph
) -> None:
    api, number = _register(org_a)
    assert number["verification_status"] == "verified"
    fake_graph.fail(190, times=1)
    url = f"/api/v1/whatsapp-numbers/{number['id']}/"
    changed = api.patch(url, {"access_token": "someone-else's"}, format="json").json()
    assert changed["verification_status"] == "pending"
    assert _deliver("after the change")["stored"]["messages"] == 0
    renamed = api.patch(url, {"display_number": "+1 555"}, format="json").json()
    assert renamed["verification_status"] == "verified"  # asked again: Meta now agrees


def test_verification_fields_are_the_servers(org_a: Organization, fake_graph: FakeGraph) -> None:
    fake_graph.fail(190, times=1)
    api, number = _register(org_a)
    fake_graph.fail(190, times=1)
    forged = api.patch(f"/api/v1/whatsapp-numbers/{number['id']}/", {
        "verification_status": "verified", "verified_at": "2024-01-01T00:00:00Z",
    }, format="json").json()
    assert forged["verification_status"] == "pending" and forged["verified_at"] is None


def test_platform_staff_mark_a_number_verified_by_hand(org_a: Organization) -> None:
    with tenant_context(org_a):
        number = WhatsAppNumberFactory(phone_number_id=VICTIM, verified=False)
    assert not number.is_verified
    chosen = {"action": "mark_verified_by_hand", ACTION_CHECKBOX_NAME: [str(number.pk)]}
    boss = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    page = boss.get(admin_url(WhatsAppNumber)).content.decode()
    assert "mark_verified_by_hand" not in page
    boss.post(admin_url(WhatsAppNumber), chosen)
    with tenant_context(org_a):
        assert not WhatsAppNumber.objects.get(pk=number.pk).is_verified
    root = signed_in(make_staff(None, Role.SUPER_ADMIN, "root"), ALL)
    assert root.post(admin_url(WhatsAppNumber), chosen).status_code == 302
    with tenant_context(org_a):
        vouched = WhatsAppNumber.objects.get(pk=number.pk)
    assert vouched.is_verified and "by platform staff root" in vouched.verification_note
    assert _deliver("now routed")["stored"]["messages"] == 1


def test_admin_add_checks_with_meta(org_a: Organization, fake_graph: FakeGraph) -> None:
    boss = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = boss.post(admin_url(WhatsAppNumber, "add"), {
        "phone_number_id": VICTIM, "display_number": "+1 555", "is_active": "on",
        "new_access_token": "tok", "messages_per_second": "80",
    })
    assert answer.status_code == 302
    with tenant_context(org_a):
        assert WhatsAppNumber.objects.get(phone_number_id=VICTIM).is_verified
    assert fake_graph.calls[0].path == f"/v21.0/{VICTIM}"

"""A WhatsApp number receives messages only once its organization proved control of it.

The hole: an ORG_ADMIN registered another business's phone_number_id and from then on received
its inbound messages. Now a new number (or a changed id or token) is pending until Meta answers
`GET /{phone_number_id}` with that id for the number's token; a pending number's deliveries are
acknowledged, logged and stored for nobody. Platform staff may vouch for a number by hand.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.test import Client, override_settings

from bench.fake_graph import FakeGraph, error_body
from crm.models import Message, NumberFlowConfig, Organization, Role, WhatsAppNumber
from tenancy.context import tenant_context, unscoped
from tests import whatsapp_payloads as wp
from tests.factories import NumberFlowConfigFactory, WhatsAppNumberFactory
from tests.test_admin_support import ALL, admin_url, make_staff, signed_in
from tests.test_api import client_for, staff
from tests.webhook_support import Processed

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
    return Processed(answer).json()


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


# --- Ids that are URLs (issue 15, item 2): digits only, in the API, the admin and the database --

STEALERS = ["http://169.254.169.254/latest/meta-data", "https://evil.test/steal", "//evil.test",
            "123/../../evil", "123?next=1", "123#x", "12 34"]


@pytest.mark.parametrize("field", ["phone_number_id", "whatsapp_business_account_id"])
@pytest.mark.parametrize("value", STEALERS)
def test_an_id_that_is_no_id_is_a_400_naming_the_field(
    org_a: Organization, fake_graph: FakeGraph, field: str, value: str
) -> None:
    api = client_for(staff(org_a))
    good = {"phone_number_id": "100000000000777", "access_token": "attacker-token"}
    created = api.post("/api/v1/whatsapp-numbers/", {**good, field: value}, format="json")
    assert created.status_code == 400 and "digits" in created.json()[field][0], created.content
    number = api.post("/api/v1/whatsapp-numbers/", good, format="json").json()
    calls = len(fake_graph.calls)
    changed = api.patch(f"/api/v1/whatsapp-numbers/{number['id']}/", {field: value},
                        format="json")
    assert changed.status_code == 400 and "digits" in changed.json()[field][0], changed.content
    assert len(fake_graph.calls) == calls  # the token went nowhere
    with tenant_context(org_a):
        assert WhatsAppNumber.objects.get().phone_number_id == good["phone_number_id"]


def test_the_admin_refuses_an_id_that_is_a_url(org_a: Organization, fake_graph: FakeGraph
                                               ) -> None:
    boss = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = boss.post(admin_url(WhatsAppNumber, "add"), {
        "phone_number_id": "123", "whatsapp_business_account_id": "https://evil.test/x",
        "display_number": "+1 555", "is_active": "on", "new_access_token": "tok",
        "messages_per_second": "80",
    })
    assert answer.status_code == 200
    assert "whatsapp_business_account_id" in answer.context["adminform"].form.errors
    assert fake_graph.calls == []
    with tenant_context(org_a):
        assert not WhatsAppNumber.objects.exists()


@pytest.mark.usefixtures("python_scope")
@pytest.mark.parametrize("field", ["phone_number_id", "whatsapp_business_account_id"])
def test_the_database_refuses_an_id_that_is_a_url(in_a: Organization, field: str) -> None:
    number = WhatsAppNumberFactory()
    with pytest.raises(ValidationError):
        WhatsAppNumber(**{**{"phone_number_id": "1", "organization": in_a},
                          field: "https://evil.test"}).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        WhatsAppNumber.objects.filter(pk=number.pk).update(**{field: "https://evil.test"})


def test_a_changed_account_is_verified_again(org_a: Organization, fake_graph: FakeGraph) -> None:
    api, number = _register(org_a, token="the-real-token")
    assert number["verification_status"] == "verified"
    fake_graph.route("GET", r"/v[\d.]+/200000000000999",  # the token does not reach it
                     lambda fake, call, match: error_body(190, 401, "(fake) not this account"))
    changed = api.patch(f"/api/v1/whatsapp-numbers/{number['id']}/",
                        {"whatsapp_business_account_id": "200000000000999"}, format="json")
    assert changed.json()["verification_status"] == "pending"
    assert "WhatsApp Business Account 200000000000999" in changed.json()["verification_note"]
    assert fake_graph.calls[-1].path == "/v21.0/200000000000999"
    assert _deliver("after the account changed")["stored"]["messages"] == 0


# --- The verification race (issue 15, item 5) ----------------------------------------------------

OWN = "100000000000111"  # the attacker's own number: its token really controls it


@pytest.mark.usefixtures("python_scope")
@pytest.mark.django_db(transaction=True)
def test_an_id_changed_during_verification_is_not_verified_by_the_old_proof(
    org_a: Organization, fake_graph: FakeGraph
) -> None:
    """Request 1 verifies OWN; while Meta answers, request 2 swaps in the victim's id."""
    with tenant_context(org_a):
        number = WhatsAppNumberFactory(phone_number_id=OWN, access_token="attacker-token",
                                       verified=False)
    asked, release = threading.Event(), threading.Event()

    def own_number(fake: FakeGraph, call: Any, match: Any) -> tuple[int, Any]:
        asked.set()
        assert release.wait(timeout=30), "the test never released the first verification"
        return 200, {"id": OWN}

    def victims_number(fake: FakeGraph, call: Any, match: Any) -> tuple[int, Any]:
        return error_body(190, 401, "(fake) this token does not control the number")

    fake_graph.route("GET", rf"/v[\d.]+/{OWN}", own_number)
    fake_graph.route("GET", rf"/v[\d.]+/{VICTIM}", victims_number)
    api = client_for(staff(org_a))
    url = f"/api/v1/whatsapp-numbers/{number.pk}/"
    answers: list[Any] = []

    def first_request() -> None:
        try:
            answers.append(api.patch(url, {"display_number": "+1 555 0111"}, format="json"))
        finally:
            connections.close_all()

    first = threading.Thread(target=first_request)
    first.start()
    try:
        assert asked.wait(timeout=30), "the first verification never reached the Graph API"
        second = api.patch(url, {"phone_number_id": VICTIM}, format="json")
        assert second.json()["verification_status"] == "pending"
    finally:
        release.set()
        first.join(timeout=30)
    assert not first.is_alive() and answers[0].status_code == 200
    with tenant_context(org_a):
        row = WhatsAppNumber.objects.get(pk=number.pk)
    assert (row.phone_number_id, row.verification_status) == (VICTIM, "pending")
    assert _deliver("for the victim only")["stored"]["messages"] == 0
    assert _stored(org_a) == []


# --- Who holds a number: proved, not first (issue 15, item 9) -------------------------------------

def _number_answer(org: Organization, phone_number_id: str) -> Any:
    return client_for(staff(org)).post("/api/v1/whatsapp-numbers/", {
        "phone_number_id": phone_number_id, "access_token": "attacker-token",
    }, format="json")


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_number_is_neither_revealed_nor_taken(
    org_a: Organization, org_b: Organization, fake_graph: FakeGraph
) -> None:
    with tenant_context(org_b):
        WhatsAppNumberFactory(phone_number_id=VICTIM)  # verified: B receives it
    fake_graph.fail(190, times=2)  # the attacker's token controls neither number
    held, free = _number_answer(org_a, VICTIM), _number_answer(org_a, "100000000000555")
    assert held.status_code == free.status_code == 201, held.content
    assert held.json()["verification_note"] == free.json()["verification_note"].replace(
        "100000000000555", VICTIM)
    assert _deliver("to B")["stored"]["messages"] == 1
    assert _stored(org_a) == [] and _stored(org_b) == ["to B"]


def test_proof_decides_who_receives_not_being_first(
    org_a: Organization, org_b: Organization, fake_graph: FakeGraph
) -> None:
    fake_graph.fail(190, times=1)
    squatted = _number_answer(org_a, VICTIM).json()  # the attacker typed it first
    assert squatted["verification_status"] == "pending"
    _, owned = _register(org_b, token="the-real-token")  # the owner proves it
    assert owned["verification_status"] == "verified"
    assert _deliver("to its owner")["stored"]["messages"] == 1
    assert _stored(org_a) == [] and _stored(org_b) == ["to its owner"]


def test_a_second_proof_leaves_the_number_where_it_is(
    org_a: Organization, org_b: Organization, fake_graph: FakeGraph
) -> None:
    _register(org_b, token="the-real-token")
    _, second = _register(org_a, token="another-real-token")
    assert second["verification_status"] == "pending"
    assert "another organization" in second["verification_note"]
    assert _deliver("still B's")["stored"]["messages"] == 1
    assert _stored(org_a) == [] and _stored(org_b) == ["still B's"]


@pytest.mark.usefixtures("python_scope")
def test_unverified_rows_of_one_id_route_nowhere_and_name_no_one(
    org_a: Organization, org_b: Organization
) -> None:
    for org in (org_a, org_b):
        with tenant_context(org):
            WhatsAppNumberFactory(phone_number_id=VICTIM, verified=False)
    report = _deliver("for nobody")
    assert report["stored"]["messages"] == 0
    assert str(org_a.pk) not in str(report) and str(org_b.pk) not in str(report)
    with unscoped():
        assert not Message.objects.exists()


@pytest.mark.usefixtures("python_scope")
def test_one_verified_row_per_id_across_organizations(
    org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_b):
        WhatsAppNumberFactory(phone_number_id=VICTIM)
    with tenant_context(org_a):
        number = WhatsAppNumberFactory(phone_number_id=VICTIM, verified=False)
        with pytest.raises(IntegrityError), transaction.atomic():
            WhatsAppNumber.objects.filter(pk=number.pk).update(verification_status="verified")


@pytest.mark.usefixtures("python_scope")
def test_flow_configs_clash_only_within_the_organization(
    org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_b):
        NumberFlowConfigFactory(number=WhatsAppNumberFactory(phone_number_id=VICTIM),
                                display_digits="15550001111")
    api = client_for(staff(org_a))
    flow = {"phone_number": VICTIM, "display_number": "+1 555-000 1111",
            "display_digits": "15550001111", "flow_key": "welcome", "flow_name": "Welcome"}
    assert api.post("/api/v1/number-flow-configs/", flow, format="json").status_code == 201
    again = api.post("/api/v1/number-flow-configs/", {**flow, "flow_key": "other"},
                     format="json")
    assert again.status_code == 409  # the organization's own row: nothing of another's
    with tenant_context(org_a):
        assert NumberFlowConfig.objects.get().display_digits == "15550001111"

"""Every kind of delivery Meta sends, item by item: usernames (business-scoped user ids), groups,
edits and deletions, system changes, played, error details, marketing preferences and the
WhatsApp Business app's own messages (smb_message_echoes)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from bench.fake_graph import FakeGraph
from crm.models import Customer, Message, Organization, Role, WhatsAppNumber
from crm.whatsapp.refusals import Refused
from crm.whatsapp.send import send_message
from tenancy.context import tenant_context
from tests import whatsapp_payloads as wp
from tests.factories import CustomerFactory, MessageFactory, WhatsAppNumberFactory
from tests.test_admin_support import make_staff
from tests.test_webhook import ASHA, DISPLAY_A, PNID_A, PNID_B, RAVI, post, rows, to_a

USER_ID = "IN.1648738043044942"
GROUP = "Y2FwaV9ncm91cDpFWEFNUExFX0dST1VQX0lE"
NEW_NUMBER = "919811122233"


@pytest.fixture(autouse=True)
def _webhook_settings() -> Iterator[None]:
    with override_settings(WHATSAPP_APP_SECRET=wp.SECRET, WHATSAPP_VERIFY_TOKEN=wp.VERIFY_TOKEN):
        yield


@pytest.fixture
def numbers(org_a: Organization, org_b: Organization) -> dict[str, WhatsAppNumber]:
    """One WhatsApp number per organization (as tests.test_webhook's)."""
    with tenant_context(org_a):
        a = WhatsAppNumberFactory(phone_number_id=PNID_A, display_number="+1 555-000 1111")
    with tenant_context(org_b):
        b = WhatsAppNumberFactory(phone_number_id=PNID_B, display_number="+1 555-000 2222")
    return {"a": a, "b": b}


def now() -> int:
    """A message's offset (wp's `at`) that makes it a minute old: the window is open."""
    return int(time.time()) - wp.BASE_TIME - 60


def change(field: str = "messages", **value: Any) -> dict[str, Any]:
    """A delivery of one change of `field` to organization A's number, `value` as given."""
    return wp.delivery(wp.entry({"field": field, "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_A, "phone_number_id": PNID_A},
        **value}}))


def customer_of(org: Organization, key: str) -> Customer:
    with tenant_context(org):
        return Customer.objects.get(wa_id=key)


# --- Business-scoped user ids (usernames) ------------------------------------------------


def test_a_customer_with_a_username_is_keyed_by_the_user_id_and_answered_there(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization,
    fake_graph: FakeGraph,
) -> None:
    item = wp.text("", "hello from a username", from_user_id=USER_ID, at=now())
    response = post(change(contacts=[{"profile": {"name": "Asha"}, "wa_id": "",
                                      "user_id": USER_ID, "username": "@asha"}],
                           messages=[item]))
    assert response.json()["stored"]["messages"] == 1 and response.json()["ignored"] == []
    customer = customer_of(org_a, USER_ID)
    assert customer.name == "Asha" and customer.last_inbound_at is not None
    (stored,) = rows(org_a, Message, "from_wa_id", "customer__wa_id", "body")
    assert stored == {"from_wa_id": USER_ID, "customer__wa_id": USER_ID,
                      "body": "hello from a username"}
    with tenant_context(org_a):
        send_message(customer, {"type": "text", "text": {"body": "Hi Asha"}})
    body = fake_graph.sent()[0].body
    assert body["recipient"] == USER_ID and "to" not in body
    assert rows(org_b, Customer, "id") == []


def test_a_number_and_a_user_id_together_keep_the_customer_keyed_by_the_number(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    post(to_a(wp.text(ASHA, "first")))
    post(to_a(wp.text(ASHA, "again", from_user_id=USER_ID)))
    assert [c["wa_id"] for c in rows(org_a, Customer, "wa_id")] == [ASHA]


# --- Groups ------------------------------------------------------------------------------


def test_a_group_message_is_the_groups_conversation_and_the_reply_goes_to_the_group(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, fake_graph: FakeGraph
) -> None:
    response = post(to_a(wp.text(ASHA, "hello group", group_id=GROUP, at=now()),
                         wp.text(RAVI, "me too", group_id=GROUP, at=now() + 1)))
    assert response.json()["stored"]["messages"] == 2
    group = customer_of(org_a, GROUP)
    assert group.is_group and group.last_inbound_at is not None
    assert rows(org_a, Message, "from_wa_id", "group_id", "customer__wa_id") == [
        {"from_wa_id": ASHA, "group_id": GROUP, "customer__wa_id": GROUP},
        {"from_wa_id": RAVI, "group_id": GROUP, "customer__wa_id": GROUP},
    ]
    with tenant_context(org_a):
        assert not Customer.objects.filter(wa_id__in=[ASHA, RAVI]).exists()  # not privately
        send_message(group, {"type": "text", "text": {"body": "Hello all"}})
    body = fake_graph.sent()[0].body
    assert (body["recipient_type"], body["to"]) == ("group", GROUP)


def test_a_message_without_its_object_is_stored_and_described(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    item = wp.message("interactive", None, sender=ASHA)  # Meta's errors on the change instead
    payload = to_a(item)
    payload["entry"][0]["changes"][0]["value"]["errors"] = [
        {"code": 131000, "title": "Something went wrong"}]
    assert post(payload).json()["stored"]["messages"] == 1
    assert rows(org_a, Message, "body") == [
        {"body": "Message of a kind WhatsApp does not show here (interactive)"}]


# --- Edits, deletions, system changes ----------------------------------------------------


def test_an_edit_changes_the_body_and_keeps_the_old_text(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    original = wp.text(ASHA, "See you at 5")
    post(to_a(original))
    edit = wp.message("edit", {"original_message_id": original["id"], "message": {
        "type": "text", "text": {"body": "See you at 6"}}}, sender=ASHA, at=60)
    assert post(to_a(edit)).json()["stored"]["messages"] == 1
    assert post(to_a(edit)).json()["stored"]["duplicates"] == 1  # applied once
    with tenant_context(org_a):
        first = Message.objects.get(message_id=original["id"])
        note = Message.objects.get(message_id=edit["id"])
    assert first.body == "See you at 6" and first.edited_at is not None
    assert [h["body"] for h in first.edit_history] == ["See you at 5"]
    assert note.body == "Edited a message: See you at 6" and note.sender_type == "customer"


def test_an_edit_of_a_message_not_stored_is_kept_as_its_own_message(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    edit = wp.message("edit", {"original_message_id": "wamid.before-takeover", "message": {
        "type": "image", "image": {"id": "77", "caption": "new caption"}}}, sender=ASHA)
    assert post(to_a(edit)).json()["stored"]["messages"] == 1
    assert rows(org_a, Message, "body") == [{"body": "Edited a message: new caption"}]


def test_a_deletion_marks_the_message_deleted_and_the_inbox_says_so(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    original = wp.text(ASHA, "my card number is 4111")
    post(to_a(original))
    post(to_a(wp.message("revoke", {"original_message_id": original["id"]}, sender=ASHA,
                         at=30)))
    with tenant_context(org_a):
        first = Message.objects.get(message_id=original["id"])
        customer = first.customer
    assert first.deleted_at is not None
    assert customer.last_inbound_at == first.timestamp  # a deletion is not the customer writing
    client = Client()
    client.force_login(make_staff(org_a, Role.AGENT))
    page = client.get(f"/inbox/{customer.pk}/thread/").content.decode()
    assert "This message was deleted" in page and "4111" not in page


def test_a_text_then_a_deletion_in_one_delivery_still_opens_the_window(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    text = wp.text(ASHA, "hello")
    post(to_a(text, wp.message("revoke", {"original_message_id": "wamid.older"}, sender=ASHA,
                               at=5)))
    customer = customer_of(org_a, ASHA)
    assert customer.last_inbound_at is not None
    assert customer.last_inbound_at < customer.last_message_at  # the text's time, not the revoke's


def test_another_customer_cannot_edit_or_delete_a_message(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    original = wp.text(ASHA, "mine")
    post(to_a(original))
    post(to_a(wp.message("revoke", {"original_message_id": original["id"]}, sender=RAVI)))
    with tenant_context(org_a):
        assert Message.objects.get(message_id=original["id"]).deleted_at is None


def test_a_number_change_moves_the_customer_and_keeps_the_history(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    post(to_a(wp.text(ASHA, "old number")))
    before = customer_of(org_a, ASHA)
    notice = wp.message("system", {
        "body": f"User A changed from {ASHA} to {NEW_NUMBER}", "wa_id": NEW_NUMBER,
        "type": "user_changed_number"}, sender=ASHA, at=10)
    assert post(to_a(notice)).json()["stored"]["messages"] == 1
    after = customer_of(org_a, NEW_NUMBER)
    assert after.pk == before.pk
    assert len(rows(org_a, Message, "customer")) == 2
    post(to_a(wp.text(NEW_NUMBER, "new number", at=20)))
    assert rows(org_a, Customer, "wa_id") == [{"wa_id": NEW_NUMBER}]


def test_a_system_notice_alone_does_not_open_the_window(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, fake_graph: FakeGraph
) -> None:
    post(to_a(wp.message("system", {"body": "changed", "wa_id": NEW_NUMBER,
                                    "type": "user_changed_number"}, sender=ASHA, at=now())))
    customer = customer_of(org_a, NEW_NUMBER)
    with tenant_context(org_a), pytest.raises(Refused) as refused:
        send_message(customer, {"type": "text", "text": {"body": "Hello?"}})
    assert refused.value.code == "outside_window" and fake_graph.sent() == []


def test_a_number_already_anothers_is_not_taken(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    post(to_a(wp.text(ASHA, "a"), wp.text(RAVI, "b")))
    notice = wp.message("system", {"body": "changed", "wa_id": RAVI,
                                   "type": "user_changed_number"}, sender=ASHA, at=10)
    assert post(to_a(notice)).json()["stored"]["messages"] == 1
    assert {c["wa_id"] for c in rows(org_a, Customer, "wa_id")} == {ASHA, RAVI}


def test_a_user_id_change_moves_a_customer_keyed_by_it(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    post(change(messages=[wp.text("", "hi", from_user_id=USER_ID)]))
    post(change(messages=[wp.message("system", {
        "body": "User changed their user id", "user_id": "IN.999",
        "type": "user_changed_user_id"}, sender="", from_user_id=USER_ID, at=5)]))
    assert rows(org_a, Customer, "wa_id") == [{"wa_id": "IN.999"}]


# --- Statuses ------------------------------------------------------------------------------


@pytest.fixture
def voice_note(numbers: dict[str, WhatsAppNumber], org_a: Organization) -> Message:
    with tenant_context(org_a):
        return MessageFactory(sender_type="agent", type="audio", delivery_status="read",
                              customer=CustomerFactory(wa_id=ASHA))


def test_played_follows_read_and_is_never_moved_back(voice_note: Message) -> None:
    payload = change(statuses=[wp.status(voice_note.message_id, "played", ASHA, at=5),
                               wp.status(voice_note.message_id, "read", ASHA, at=6)])
    assert post(payload).json()["stored"]["statuses"] == 1
    with tenant_context(voice_note.organization_id):
        voice_note.refresh_from_db()
    assert voice_note.delivery_status == "played"


def test_a_failure_keeps_metas_error_details(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    with tenant_context(org_a):
        sent = MessageFactory(sender_type="agent", delivery_status="sent",
                              customer=CustomerFactory(wa_id=ASHA))
    post(change(statuses=[wp.status(sent.message_id, "failed", ASHA, errors=wp.failure())]))
    with tenant_context(org_a):
        sent.refresh_from_db()
    assert (sent.error_code, sent.error_details) == (
        131047, "More than 24 hours have passed since the customer last replied to this number.")


# --- Marketing preferences ---------------------------------------------------------------


def preference(key: str, value: str, at: int = 0) -> dict[str, Any]:
    return change("user_preferences", contacts=[{"wa_id": key}], user_preferences=[
        {"wa_id": key, "detail": f"User requested to {value} marketing messages",
         "category": "marketing_messages", "value": value, "timestamp": int(wp.ts(at))}])


def test_stopping_and_resuming_marketing_in_whatsapp_sets_and_clears_the_opt_out(
    numbers: dict[str, WhatsAppNumber], org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_b):
        theirs = CustomerFactory(wa_id=ASHA)
    assert post(preference(ASHA, "stop")).json()["stored"]["preferences"] == 1
    assert customer_of(org_a, ASHA).marketing_opt_out_at is not None
    post(preference(ASHA, "resume", at=10))
    assert customer_of(org_a, ASHA).marketing_opt_out_at is None
    with tenant_context(org_b):
        theirs.refresh_from_db()
    assert theirs.marketing_opt_out_at is None  # another organization's customer: untouched


def test_a_preference_system_message_sets_the_opt_out(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    post(to_a(wp.message("system", {"body": "User requested to stop marketing messages",
                                    "marketing": "stop", "type": "user_preference_changed"},
                         sender=ASHA)))
    assert customer_of(org_a, ASHA).marketing_opt_out_at is not None


# --- The WhatsApp Business app's own messages ---------------------------------------------


def test_a_message_sent_from_the_business_app_is_stored_as_outbound(
    numbers: dict[str, WhatsAppNumber], org_a: Organization
) -> None:
    echo = wp.message("text", {"body": "Sent from my phone"}, sender=DISPLAY_A, to=ASHA)
    response = post(change("smb_message_echoes", message_echoes=[echo]))
    assert response.json()["stored"]["messages"] == 1 and response.json()["ignored"] == []
    (stored,) = rows(org_a, Message, "sender_type", "from_wa_id", "to_wa_id", "body",
                     "customer__wa_id")
    assert stored == {"sender_type": "agent", "from_wa_id": DISPLAY_A, "to_wa_id": ASHA,
                      "body": "Sent from my phone", "customer__wa_id": ASHA}
    customer = customer_of(org_a, ASHA)
    assert customer.last_inbound_at is None and customer.last_message_at is not None


# --- Isolation of what is new --------------------------------------------------------------


@pytest.mark.usefixtures("python_scope")
def test_group_edit_and_deletion_columns_stay_in_their_organization(
    org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_b):
        theirs = MessageFactory(group_id=GROUP, body="B's text", edit_history=[{"body": "x"}],
                                customer=CustomerFactory(wa_id=GROUP, phone_1=None, is_group=True))
    with tenant_context(org_a):
        assert not Message.objects.filter(group_id=GROUP).exists()
        assert not Customer.objects.filter(is_group=True).exists()
        assert Message.objects.filter(pk=theirs.pk).update(deleted_at=theirs.timestamp) == 0
    with tenant_context(org_b):
        assert Message.objects.get(pk=theirs.pk).deleted_at is None

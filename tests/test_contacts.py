"""Contacts: labels and typed attributes of customers, private notes with mentions, the
conversation status (a customer's message reopens, a snooze ends), the inbox's panel and filters,
the API, and isolation between organizations (the Python scope off too) and agents."""
from __future__ import annotations

from datetime import timedelta
import pytest
from django.utils import timezone

from crm.contacts import queries, services
from crm.contacts.tasks import wake_snoozed_conversations
from crm.contacts.errors import (
    DuplicateLabel,
    InvalidAttribute,
    InvalidNote,
    InvalidStatus,
    UnknownLabel,
)
from crm.models import (
    AttributeDefinition,
    ConversationNote,
    Customer,
    CustomerLabel,
    Label,
    Organization,
    Role,
)
from tenancy.context import tenant_context, unscoped
from tests import whatsapp_payloads as wp
from tests.factories import (
    AttributeDefinitionFactory,
    ConversationNoteFactory,
    CustomerFactory,
    CustomerLabelFactory,
    LabelFactory,
    WhatsAppNumberFactory,
)
from tests.inbox_support import conversation
from tests.test_admin_support import make_staff, signed_in
from tests.test_api import client_for

Status = Customer.ConversationStatus
TYPES = AttributeDefinition.Type


def labels(customer: Customer) -> list[str]:
    return [label.name for label in queries.labels_of(customer)]


# -- labels -----------------------------------------------------------------------------------


def test_label_names_are_unique_per_organization_ignoring_case(org_a, org_b) -> None:
    with tenant_context(org_a):
        services.create_label("VIP", "#B45309")
        with pytest.raises(DuplicateLabel, match="exists already"):
            services.create_label("vip")
        assert Label.objects.get().color == "#b45309"
    with tenant_context(org_b):
        services.create_label("vip")  # B's own list


def test_admins_create_labels_while_applying_them_agents_use_existing_ones(org_a) -> None:
    admin, agent = make_staff(org_a, Role.ORG_ADMIN), make_staff(org_a, Role.AGENT)
    with tenant_context(org_a):
        asha = CustomerFactory()
        services.add_labels(asha, ["VIP", "Follow up", "vip"], by=admin)
        assert labels(asha) == ["Follow up", "VIP"]
        with pytest.raises(UnknownLabel, match="no label 'Gold'"):
            services.add_labels(asha, ["Gold"], by=agent)
        services.add_labels(asha, ["follow UP"], by=agent)  # has it already: kept once
        assert CustomerLabel.objects.count() == 2
        assert services.remove_labels(asha, ["vip", "never-made"], by=agent) == 1
        assert labels(asha) == ["Follow up"]


@pytest.mark.parametrize(("names", "field"), [
    ("VIP", "labels"), ([""], "labels[0]"), (["x" * 51], "labels[0]"), (["a\x00b"], "labels[0]"),
    ([1], "labels[0]"),
])
def test_malformed_label_names_are_refused(in_a, names, field) -> None:
    with pytest.raises(services.InvalidLabel) as refused:
        services.add_labels(CustomerFactory(), names)
    assert refused.value.field == field


# -- attributes -------------------------------------------------------------------------------


@pytest.fixture
def definitions(in_a: Organization) -> None:
    for key, kind, choices in (("visits", TYPES.NUMBER, []), ("birthday", TYPES.DATE, []),
                               ("vip", TYPES.BOOLEAN, []), ("city", TYPES.TEXT, []),
                               ("tier", TYPES.CHOICE, ["Gold", "Silver"])):
        AttributeDefinitionFactory(key=key, type=kind, choices=choices)


def test_attributes_are_stored_in_their_types_shape(definitions) -> None:
    asha = CustomerFactory()
    services.set_attributes(asha, {"visits": "3", "birthday": "1990-02-01", "vip": "yes",
                                   "city": " Pune ", "tier": "Gold"})
    services.set_attributes(asha, {"visits": 4.5, "city": None})  # the others are kept
    asha.refresh_from_db()
    assert asha.attributes == {"visits": 4.5, "birthday": "1990-02-01", "vip": True,
                               "tier": "Gold"}
    panel = dict((d.key, v) for d, v in queries.attributes_of(asha))
    assert panel == {"birthday": "1990-02-01", "city": None, "tier": "Gold", "visits": 4.5,
                     "vip": True}


@pytest.mark.parametrize(("values", "key"), [
    ({"visits": "many"}, "visits"), ({"visits": True}, "visits"),
    ({"birthday": "31/12"}, "birthday"),
    ({"vip": "maybe"}, "vip"), ({"tier": "Bronze"}, "tier"), ({"city": "a\x00"}, "city"),
    ({"city": "x" * 1001}, "city"), ({"nickname": "Ash"}, "nickname"), ("city=Pune", "attributes"),
])
def test_values_their_definition_refuses_name_the_key(definitions, values, key) -> None:
    asha = CustomerFactory()
    with pytest.raises(InvalidAttribute) as refused:
        services.set_attributes(asha, values)
    assert refused.value.field == key
    asha.refresh_from_db()
    assert asha.attributes == {}


# -- notes ------------------------------------------------------------------------------------


def test_notes_mention_agents_by_id_or_username_of_the_organization_only(org_a, org_b) -> None:
    admin = make_staff(org_a, Role.ORG_ADMIN)
    meera = make_staff(org_a, Role.AGENT, username="meera")
    ravi = make_staff(org_a, Role.AGENT, username="ravi.k")
    bala = make_staff(org_b, Role.AGENT, username="bala")
    with tenant_context(org_a):
        asha = CustomerFactory()
        note = services.add_note(asha, "Call her back, @ravi.k and @bala", by=admin,
                                 mentions=[str(meera.pk)])
        assert note.author == admin
        assert note.mentions == sorted([str(meera.pk), str(ravi.pk)])  # B's bala is no one here
        with pytest.raises(InvalidNote, match=r"mentions\[0\]"):
            services.add_note(asha, "x", by=admin, mentions=[str(bala.pk)])
        with pytest.raises(InvalidNote, match="body"):
            services.add_note(asha, "  ", by=admin)
        assert ConversationNote.objects.count() == 1


# -- status -----------------------------------------------------------------------------------


def test_status_snooze_needs_a_time_ahead_and_wakes_when_it_passes(in_a) -> None:
    asha, ravi = CustomerFactory(), CustomerFactory()
    assert asha.conversation_status == Status.OPEN
    services.set_status(asha, Status.RESOLVED)
    with pytest.raises(InvalidStatus, match="snoozed_until"):
        services.set_status(ravi, Status.SNOOZED)
    with pytest.raises(InvalidStatus, match="snoozed_until"):
        services.set_status(ravi, Status.PENDING, until=timezone.now() + timedelta(hours=1))
    with pytest.raises(InvalidStatus, match="status"):
        services.set_status(ravi, "closed")
    soon = timezone.now() + timedelta(hours=1)
    services.set_status(ravi, Status.SNOOZED, until=soon)
    assert services.wake_snoozed() == 0
    assert services.wake_snoozed(soon) == 1
    ravi.refresh_from_db()
    asha.refresh_from_db()
    assert (ravi.conversation_status, ravi.snoozed_until) == (Status.OPEN, None)
    assert asha.conversation_status == Status.RESOLVED


@pytest.mark.usefixtures("python_scope")
def test_beat_opens_every_organizations_ended_snoozes(org_a, org_b) -> None:
    now = timezone.now()
    snoozed: dict[str, Customer] = {}
    for org, until in ((org_a, now - timedelta(minutes=1)), (org_b, now + timedelta(hours=1))):
        with tenant_context(org):
            snoozed[org.code] = CustomerFactory(conversation_status=Status.SNOOZED,
                                                snoozed_until=until)
    assert wake_snoozed_conversations() == 1
    with unscoped():
        assert dict(Customer.objects.filter(pk__in=[c.pk for c in snoozed.values()])
                    .values_list("organization__code", "conversation_status")) == {
            "org-a": Status.OPEN, "org-b": Status.SNOOZED}


def test_a_customers_new_message_reopens_resolved_and_snoozed_conversations(
    client, settings, org_a: Organization,
) -> None:
    settings.WHATSAPP_APP_SECRET = wp.SECRET
    with tenant_context(org_a):
        WhatsAppNumberFactory(phone_number_id="106540352242922", display_number="15550001111")
        resolved = CustomerFactory(wa_id="919812345678", conversation_status=Status.RESOLVED)
        snoozed = CustomerFactory(wa_id="919845012345", conversation_status=Status.SNOOZED,
                                  snoozed_until=timezone.now() + timedelta(days=1))
        pending = CustomerFactory(wa_id="919900011122", conversation_status=Status.PENDING)
    for batch in ([resolved], [snoozed, pending]):  # one customer, then several in one delivery
        raw = wp.body(wp.delivery(wp.entry(wp.change("106540352242922", "15550001111", messages=[
            wp.text(c.wa_id, "hello again", wamid=f"wamid.{c.wa_id}") for c in batch]))))
        answer = client.post("/webhooks/whatsapp/", raw, content_type="application/json",
                             headers={"X-Hub-Signature-256": wp.signature(raw)})
        assert answer.status_code == 200
    with tenant_context(org_a):
        assert dict(Customer.objects.values_list("wa_id", "conversation_status")) == {
            resolved.wa_id: Status.OPEN, snoozed.wa_id: Status.OPEN,
            pending.wa_id: Status.PENDING}
        assert Customer.objects.get(pk=snoozed.pk).snoozed_until is None


# -- the inbox --------------------------------------------------------------------------------


def test_an_agent_labels_notes_and_resolves_from_the_contact_panel(org_a, org_b) -> None:
    agent = make_staff(org_a, Role.AGENT, username="asha_agent")
    with tenant_context(org_a):
        LabelFactory(name="VIP", color="#b45309")
        AttributeDefinitionFactory(key="tier", label="Tier", type=TYPES.CHOICE,
                                   choices=["Gold", "Silver"])
    asha = conversation(org_a, "Asha Rao")
    ravi = conversation(org_a, "Ravi Kumar")
    bala = conversation(org_b, "Bala Iyer")
    inbox = signed_in(agent)
    base = f"/inbox/{asha.pk}/"
    page = inbox.get(base).content.decode()
    assert 'id="add-label"' in page and "Tier" in page and "No notes." in page
    assert inbox.post(f"{base}labels/", {"add": "vip"}).status_code == 200
    assert inbox.post(f"{base}labels/", {"add": "Gold"}).status_code == 400  # agents: existing
    assert inbox.post(f"{base}attributes/", {"attr.tier": "Gold"}).status_code == 200
    assert inbox.post(f"{base}attributes/", {"attr.tier": "Bronze"}).status_code == 400
    thread = inbox.post(f"{base}notes/", {"body": "Wants a callback @asha_agent"})
    assert "Wants a callback" in thread.content.decode()
    assert inbox.post(f"{base}status/", {"status": "resolved"}).status_code == 200
    assert inbox.post(f"{base}status/", {"status": "snoozed", "snooze_hours": "5"}
                      ).status_code == 400
    with tenant_context(org_a):
        asha.refresh_from_db()
        assert (labels(asha), asha.attributes, asha.conversation_status) == (
            ["VIP"], {"tier": "Gold"}, Status.RESOLVED)
    listed = inbox.get("/inbox/list/?label=VIP&status=resolved").content.decode()
    assert "Asha Rao" in listed and "Ravi Kumar" not in listed
    assert "Asha Rao" in inbox.get("/inbox/list/?mentions=1").content.decode()
    assert "Ravi Kumar" not in inbox.get("/inbox/list/?mentions=1").content.decode()
    assert "Ravi Kumar" in inbox.get("/inbox/list/?status=open").content.decode()
    assert inbox.get("/inbox/list/?status=closed").status_code == 400
    # B's conversation cannot be changed from A, through any of the panel's forms.
    for path, data in (("labels/", {"add": "VIP"}), ("notes/", {"body": "x"}),
                       ("status/", {"status": "resolved"}), ("attributes/", {"attr.tier": "Gold"})):
        assert inbox.post(f"/inbox/{bala.pk}/{path}", data).status_code == 404
    assert ravi.conversation_status == Status.OPEN


# -- the API ----------------------------------------------------------------------------------


def test_labels_api_admin_writes_agents_apply(org_a, org_b) -> None:
    admin, agent = client_for(make_staff(org_a, Role.ORG_ADMIN)), client_for(
        make_staff(org_a, Role.AGENT))
    made = admin.post("/api/v1/labels/", {"name": "VIP", "color": "#16a34a"}, format="json")
    assert made.status_code == 201, made.content
    assert admin.post("/api/v1/labels/", {"name": "vip"}, format="json").status_code == 409
    assert admin.post("/api/v1/labels/", {"name": "Bad", "color": "green"},
                      format="json").json()["color"]
    assert agent.post("/api/v1/labels/", {"name": "Mine"}, format="json").status_code == 403
    assert [row["name"] for row in agent.get("/api/v1/labels/").json()["results"]] == ["VIP"]
    asha = conversation(org_a, "Asha Rao")
    changed = agent.post(f"/api/v1/customers/{asha.pk}/labels/", {"add": ["vip"]}, format="json")
    assert [row["name"] for row in changed.json()["labels"]] == ["VIP"]
    refused = agent.post(f"/api/v1/customers/{asha.pk}/labels/", {"add": ["Gold"]}, format="json")
    assert (refused.status_code, refused.json()["field"]) == (400, "labels")
    assert [c["id"] for c in agent.get("/api/v1/customers/?label=VIP").json()["results"]] == [
        str(asha.pk)]
    assert agent.get("/api/v1/customers/?label=Gold").json()["results"] == []
    rows = agent.get("/api/v1/conversations/?label=vip").json()["results"]
    assert [(row["id"], row["labels"], row["status"]) for row in rows] == [
        (str(asha.pk), ["VIP"], "open")]
    assert agent.get("/api/v1/conversations/?match=some").status_code == 400
    removed = agent.post(f"/api/v1/customers/{asha.pk}/labels/", {"remove": ["VIP"]},
                         format="json")
    assert removed.json() == {"labels": []}


def test_attributes_notes_and_status_api(org_a) -> None:
    admin = client_for(make_staff(org_a, Role.ORG_ADMIN))
    agent_user = make_staff(org_a, Role.AGENT, username="meera")
    agent = client_for(agent_user)
    made = admin.post("/api/v1/attribute-definitions/", {
        "key": "tier", "label": "Tier", "type": "choice", "choices": ["Gold"]}, format="json")
    assert made.status_code == 201, made.content
    bad = admin.post("/api/v1/attribute-definitions/", {"key": "Tier!", "label": "x"},
                     format="json")
    assert bad.status_code == 400 and "key" in bad.json()
    assert agent.post("/api/v1/attribute-definitions/", {"key": "x", "label": "x"},
                      format="json").status_code == 403
    asha = conversation(org_a, "Asha Rao")
    base = f"/api/v1/customers/{asha.pk}/attributes/"
    assert agent.patch(base, {"attributes": {"tier": "Gold"}}, format="json").json() == {
        "attributes": {"tier": "Gold"}}
    refused = agent.patch(base, {"attributes": {"tier": "Bronze"}}, format="json")
    assert (refused.status_code, refused.json()["field"]) == (400, "tier")
    patched = admin.patch(f"/api/v1/customers/{asha.pk}/", {"attributes": {"tier": "Iron"}},
                          format="json")
    assert patched.status_code == 400 and "tier" in str(patched.json())
    note = admin.post(f"/api/v1/conversations/{asha.pk}/notes/",
                      {"body": "VIP, call @meera"}, format="json")
    assert note.status_code == 201 and note.json()["mentions"] == [str(agent_user.pk)]
    assert [n["body"] for n in agent.get(f"/api/v1/conversations/{asha.pk}/notes/").json()] == [
        "VIP, call @meera"]
    assert [r["id"] for r in agent.get("/api/v1/conversations/?mentions=1").json()["results"]
            ] == [str(asha.pk)]
    until = (timezone.now() + timedelta(hours=2)).isoformat()
    snoozed = agent.post(f"/api/v1/conversations/{asha.pk}/status/",
                         {"status": "snoozed", "snoozed_until": until}, format="json")
    assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed"
    assert agent.post(f"/api/v1/conversations/{asha.pk}/status/", {"status": "snoozed"},
                      format="json").json()["field"] == "snoozed_until"
    assert agent.get("/api/v1/conversations/?status=snoozed").json()["results"][0]["id"] == str(
        asha.pk)


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_contacts_are_404_and_unchanged(org_a, org_b) -> None:
    admin = client_for(make_staff(org_a, Role.ORG_ADMIN))
    with tenant_context(org_b):
        theirs = CustomerLabelFactory(label=LabelFactory(name="VIP"))
        note = ConversationNoteFactory(customer=theirs.customer)
        definition = AttributeDefinitionFactory(key="tier")
        customer = theirs.customer
    for path in (f"labels/{theirs.label_id}/", f"customer-labels/{theirs.pk}/",
                 f"attribute-definitions/{definition.pk}/", f"conversation-notes/{note.pk}/",
                 f"customers/{customer.pk}/labels/", f"customers/{customer.pk}/attributes/",
                 f"conversations/{customer.pk}/notes/"):
        assert admin.get(f"/api/v1/{path}").status_code == 404, path
    for path, body in ((f"customers/{customer.pk}/labels/", {"add": ["VIP"]}),
                       (f"conversations/{customer.pk}/notes/", {"body": "x"}),
                       (f"conversations/{customer.pk}/status/", {"status": "resolved"})):
        assert admin.post(f"/api/v1/{path}", body, format="json").status_code == 404, path
    assert admin.patch(f"/api/v1/customers/{customer.pk}/attributes/",
                       {"attributes": {"tier": "x"}}, format="json").status_code == 404
    assert admin.delete(f"/api/v1/labels/{theirs.label_id}/").status_code == 404
    for path in ("labels/", "customer-labels/", "attribute-definitions/", "conversation-notes/"):
        assert admin.get(f"/api/v1/{path}").json()["results"] == [], path
    # A's label of the same name filters A's customers only.
    with tenant_context(org_a):
        LabelFactory(name="VIP")
    assert admin.get("/api/v1/customers/?label=VIP").json()["results"] == []
    with unscoped():
        assert CustomerLabel.objects.filter(pk=theirs.pk).exists()
        assert Customer.objects.get(pk=customer.pk).conversation_status == Status.OPEN
        assert ConversationNote.objects.filter(customer=customer).count() == 1


@pytest.mark.usefixtures("python_scope")
def test_agents_who_see_their_own_chats_see_only_their_notes_and_labels(org_a) -> None:
    with unscoped():  # organizations are shared rows
        Organization.objects.filter(pk=org_a.pk).update(agents_see_all=False)
    meera = make_staff(org_a, Role.AGENT)
    mine = conversation(org_a, "Asha Rao", user=meera)
    other = conversation(org_a, "Ravi Kumar")
    with tenant_context(org_a):
        for customer in (mine, other):
            CustomerLabelFactory(customer=customer)
            ConversationNoteFactory(customer=customer, mentions=[str(meera.pk)])
    agent = client_for(meera)
    for path in ("customer-labels/", "conversation-notes/"):
        rows = agent.get(f"/api/v1/{path}").json()["results"]
        assert [row["customer"] for row in rows] == [str(mine.pk)], path
    assert agent.get(f"/api/v1/conversations/{other.pk}/notes/").status_code == 404
    assert agent.post(f"/api/v1/customers/{other.pk}/labels/", {"add": []},
                      format="json").status_code == 404
    assert [r["id"] for r in agent.get("/api/v1/conversations/?mentions=1").json()["results"]
            ] == [str(mine.pk)]
    assert signed_in(meera).post(f"/inbox/{other.pk}/notes/", {"body": "x"}).status_code == 404

"""An agent of an organization with `agents_see_all` off, attacking: every resource hides the
conversations assigned to others (404, like another organization's), and the assignee changes
only by the inbox's rules, whichever door (API, admin) is used."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from bench.fake_graph import FakeGraph
from crm.api.resources import RESOURCES, Resource
from crm.models import Customer, Message, Organization, Role, User
from crm.visibility import CUSTOMER_PATHS, UNLINKED
from tenancy.context import tenant_context, unscoped
from tests.factories import CustomerFactory, MessageFactory, OrderFactory, WhatsAppNumberFactory
from tests.test_admin_support import admin_url, missing_key, signed_in
from tests.test_api import FACTORIES, client_for, detail_url, key_of, keys_listed, staff

# Twice: with the Python scope, and with PostgreSQL's row-level security alone.
pytestmark = pytest.mark.usefixtures("python_scope")

ABOUT_CUSTOMERS = [r for r in RESOURCES
                   if r.model in CUSTOMER_PATHS or r.model._meta.model_name in UNLINKED]


@dataclass
class Scene:
    """Organization A shows agents their own chats only; B is another organization."""

    agent: User
    colleague: User
    admin: User
    mine: Customer  # assigned to the agent
    theirs: Customer  # assigned to the colleague
    free: Customer  # assigned to nobody
    of_b: Customer


@pytest.fixture
def scene(org_a: Organization, org_b: Organization) -> Scene:
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(agents_see_all=False)
    agent, colleague, admin = (staff(org_a, Role.AGENT), staff(org_a, Role.AGENT), staff(org_a))
    with tenant_context(org_a):
        mine, theirs, free = (CustomerFactory(user=agent), CustomerFactory(user=colleague),
                              CustomerFactory())
    with tenant_context(org_b):
        of_b = CustomerFactory()
    return Scene(agent, colleague, admin, mine, theirs, free, of_b)


def _row(resource: Resource, org: Organization, customer: Customer) -> Any:
    """A row of `resource` about `customer`'s conversation (any row, for unlinked history)."""
    path = CUSTOMER_PATHS.get(resource.model)
    with tenant_context(org):
        if path == "":
            return customer
        if path == "customer__":
            return FACTORIES[resource.model](customer=customer)
        if path == "order__customer__":
            return FACTORIES[resource.model](order=OrderFactory(customer=customer))
        return FACTORIES[resource.model]()


@pytest.mark.parametrize("resource", ABOUT_CUSTOMERS, ids=lambda r: r.prefix)
def test_rows_of_others_conversations_are_404_and_never_listed(
    resource: Resource, scene: Scene, org_a: Organization, org_b: Organization
) -> None:
    hidden = _row(resource, org_a, scene.theirs)
    of_b = _row(resource, org_b, scene.of_b)
    api = client_for(scene.agent)
    listing = api.get(f"/api/v1/{resource.prefix}/?page_size=500")
    if listing.status_code == 403:  # closed to agents altogether (webhook deliveries: ORG_ADMIN)
        assert {api.get(detail_url(resource, row)).status_code for row in (hidden, of_b)} == {403}
        return
    listed = keys_listed(resource, listing.json())
    assert key_of(hidden) not in listed and key_of(of_b) not in listed
    assert api.get(detail_url(resource, hidden)).status_code == 404
    assert api.get(detail_url(resource, of_b)).status_code == 404
    if resource.model in CUSTOMER_PATHS:
        own = _row(resource, org_a, scene.mine)
        assert key_of(own) in keys_listed(
            resource, api.get(f"/api/v1/{resource.prefix}/?page_size=500").json())
        assert api.get(detail_url(resource, own)).status_code == 200


def test_messages_of_a_hidden_conversation_are_not_listed_by_customer(
    scene: Scene, org_a: Organization
) -> None:
    with tenant_context(org_a):
        MessageFactory(customer=scene.theirs, body="their secret")
    api = client_for(scene.agent)
    response = api.get(f"/api/v1/messages/?customer={scene.theirs.pk}")
    assert response.status_code == 200 and response.json()["results"] == []
    assert "their secret" not in response.content.decode()


def test_media_of_a_hidden_conversation_is_404(
    scene: Scene, org_a: Organization, fake_graph: FakeGraph, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    media_id = fake_graph.add_media(b"\xff\xd8\xff\xe0" + b"jpeg" * 10, "image/jpeg")
    with tenant_context(org_a):
        WhatsAppNumberFactory(display_number="+91 80000 00001")
        message = MessageFactory(customer=scene.theirs, type="image", media_id=media_id,
                                 to_wa_id="918000000001", body=None)
    api = client_for(scene.agent)
    assert api.get(f"/api/v1/messages/{message.pk}/media/").status_code == 404
    assert fake_graph.calls == []


def test_an_agent_cannot_write_into_a_hidden_conversation(scene: Scene) -> None:
    api = client_for(scene.agent)
    recorded = api.post("/api/v1/messages/", {"customer": str(scene.theirs.pk), "body": "hi"},
                        format="json")
    assert recorded.status_code == 400 and "customer" in recorded.json()
    assert api.post(f"/api/v1/customers/{scene.theirs.pk}/read/").status_code == 404
    assert api.patch(f"/api/v1/customers/{scene.theirs.pk}/", {"name": "X"},
                     format="json").status_code == 404


def test_the_conversations_api_and_the_inbox_hide_them_too(scene: Scene) -> None:
    api = client_for(scene.agent)
    listed = {row["id"] for row in api.get("/api/v1/conversations/").json()["results"]}
    assert str(scene.theirs.pk) not in listed
    assert api.post(f"/api/v1/conversations/{scene.theirs.pk}/read/").status_code == 404
    assert signed_in(scene.agent).get(f"/inbox/{scene.theirs.pk}/").status_code == 404


def _assignee(org: Organization, customer: Customer) -> Any:
    with tenant_context(org):
        return Customer.objects.get(pk=customer.pk).user_id


def test_an_agent_cannot_take_a_conversation_through_the_customer_resource(
    scene: Scene, org_a: Organization
) -> None:
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(agents_see_all=True)
    api = client_for(scene.agent)
    taken = api.patch(f"/api/v1/customers/{scene.theirs.pk}/", {"user": str(scene.agent.pk)},
                      format="json")
    assert taken.status_code == 403 and "unassigned" in taken.json()["detail"]
    given = api.patch(f"/api/v1/customers/{scene.free.pk}/", {"user": str(scene.colleague.pk)},
                      format="json")
    assert given.status_code == 403
    created = api.post("/api/v1/customers/", {"wa_id": "919999000001", "name": "N",
                                              "user": str(scene.colleague.pk)}, format="json")
    assert created.status_code == 403
    assert _assignee(org_a, scene.theirs) == scene.colleague.pk
    assert _assignee(org_a, scene.free) is None
    mine = api.patch(f"/api/v1/customers/{scene.free.pk}/", {"user": str(scene.agent.pk)},
                     format="json")
    assert mine.status_code == 200 and _assignee(org_a, scene.free) == scene.agent.pk


def test_an_org_admin_assigns_within_its_organization_only(
    scene: Scene, org_a: Organization, org_b: Organization
) -> None:
    api = client_for(scene.admin)
    moved = api.patch(f"/api/v1/customers/{scene.theirs.pk}/", {"user": str(scene.agent.pk)},
                      format="json")
    assert moved.status_code == 200 and _assignee(org_a, scene.theirs) == scene.agent.pk
    outsider = staff(org_b, Role.AGENT)
    refused = api.patch(f"/api/v1/customers/{scene.theirs.pk}/", {"user": str(outsider.pk)},
                        format="json")
    assert refused.status_code == 400 and "user" in refused.json()
    assert _assignee(org_a, scene.theirs) == scene.agent.pk


def test_the_admin_hides_them_from_the_agent(scene: Scene, org_a: Organization) -> None:
    with tenant_context(org_a):
        message = MessageFactory(customer=scene.theirs, body="their secret")
        order = OrderFactory(customer=scene.theirs)
    admin = signed_in(scene.agent)
    listing = admin.get(admin_url(Customer)).content.decode()
    assert str(scene.mine.pk) in listing and str(scene.theirs.pk) not in listing
    assert "their secret" not in admin.get(admin_url(Message)).content.decode()
    for model, row in ((Customer, scene.theirs), (Message, message), (type(order), order)):
        theirs = admin.get(admin_url(model, "change", row), follow=True)
        nothing = admin.get(admin_url(model, "change", missing_key(model)), follow=True)
        assert theirs.redirect_chain == nothing.redirect_chain
        assert "their secret" not in theirs.content.decode()


def test_the_admin_form_assigns_by_the_inbox_rules(scene: Scene, org_a: Organization) -> None:
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(agents_see_all=True)
    admin: Client = signed_in(scene.agent)
    page = admin.get(admin_url(Customer, "change", scene.theirs))
    form = {**page.context["adminform"].form.initial, "user": str(scene.agent.pk)}
    data = {k: ("" if v is None else str(v)) for k, v in form.items()
            if k in page.context["adminform"].form.fields}
    for prefix in ("addresses", "orders", "messages"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = admin.post(admin_url(Customer, "change", scene.theirs), data)
    assert response.status_code == 200
    assert "unassigned" in str(response.context["adminform"].form.errors["user"])
    assert _assignee(org_a, scene.theirs) == scene.colleague.pk


@pytest.mark.django_db(transaction=True)
def test_the_live_stream_tells_an_agent_only_of_their_own_conversations(
    scene: Scene, org_a: Organization
) -> None:
    from crm.inbox import events, services
    from tests.test_inbox_events import data_events, publish_as

    with tenant_context(org_a):
        MessageFactory(customer=scene.mine, message_id="wamid.mine")
        MessageFactory(customer=scene.theirs, message_id="wamid.theirs")
    response = signed_in(scene.agent).get("/inbox/events/")
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"retry: 2000\n\n"
    mine, theirs, free = (str(c.pk) for c in (scene.mine, scene.theirs, scene.free))
    agent, colleague = str(scene.agent.pk), str(scene.colleague.pk)

    def next_event() -> Any:
        """The next event the agent receives (filtered as it is read: read before changing)."""
        return data_events(chunks, 1)[0]

    try:
        publish_as(org_a, events.MESSAGE, customers=[theirs, mine, free])
        assert next_event() == {"type": "message", "customers": [mine]}
        publish_as(org_a, events.CONVERSATION, customer=theirs)
        publish_as(org_a, events.STATUS, message_id="wamid.theirs", status="read")
        publish_as(org_a, events.STATUS, message_id="wamid.mine", status="read")
        assert next_event() == {"type": "status", "message_id": "wamid.mine", "status": "read"}
        with tenant_context(org_a):  # taken away by the admin: the agent still hears of it
            services.assign(scene.mine, scene.colleague, by=scene.admin)
        assert next_event() == {"type": "conversation", "customer": mine,
                                "users": sorted([agent, colleague])}
        publish_as(org_a, events.CONVERSATION, customer=mine)  # no longer theirs
        publish_as(org_a, events.MESSAGE, customers=[free, theirs])  # unassigned is hidden too
        publish_as(org_a, events.STATUS, message_id="wamid.mine", status="delivered")
        publish_as(org_a, events.CONVERSATION, customer=theirs, users=[agent])  # a marker
        assert next_event() == {"type": "conversation", "customer": theirs, "users": [agent]}
    finally:
        response.close()

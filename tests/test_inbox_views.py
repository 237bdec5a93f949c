"""The inbox pages: who reaches them, as which organization, and what they show."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bench.fake_graph import FakeGraph
from crm.models import Customer, Organization, Role, WhatsAppNumber
from tenancy.context import tenant_context
from tests.factories import MessageFactory, WhatsAppNumberFactory
from tests.inbox_support import conversation
from tests.test_admin_support import make_staff, signed_in


@pytest.fixture
def chats(org_a: Organization, org_b: Organization) -> dict[str, Customer]:
    """A conversation in each organization."""
    return {"a": conversation(org_a, "Asha of A"), "b": conversation(org_b, "Bala of B")}


@pytest.fixture
def number_a(org_a: Organization) -> WhatsAppNumber:
    with tenant_context(org_a):
        return WhatsAppNumberFactory(display_number="+91 80000 00000")


@pytest.fixture
def agent_a(org_a: Organization) -> Client:
    return signed_in(make_staff(org_a, Role.AGENT))


def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    response = Client().get("/inbox/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/inbox/"


def test_agent_sees_own_organizations_conversations_only(
    chats: dict[str, Customer], agent_a: Client
) -> None:
    page = agent_a.get("/inbox/").content.decode()
    assert "Asha of A" in page and "Bala of B" not in page
    fragment = agent_a.get("/inbox/list/", {"q": "of"}).content.decode()
    assert "Asha of A" in fragment and "Bala of B" not in fragment


@pytest.mark.parametrize("path", ["/inbox/{}/", "/inbox/{}/thread/", "/inbox/{}/composer/",
                                  "/inbox/{}/template-fields/?template=x:en"])
def test_another_organizations_conversation_is_404(
    chats: dict[str, Customer], agent_a: Client, path: str
) -> None:
    assert agent_a.get(path.format(chats["b"].pk)).status_code == 404


@pytest.mark.parametrize("action", ["read", "assign"])
def test_another_organizations_conversation_cannot_be_changed(
    chats: dict[str, Customer], agent_a: Client, org_b: Organization, action: str
) -> None:
    assert agent_a.post(f"/inbox/{chats['b'].pk}/{action}/").status_code == 404
    with tenant_context(org_b):
        unchanged = Customer.objects.get(pk=chats["b"].pk)
    assert unchanged.last_read_at is None and unchanged.user_id is None


def test_thread_shows_messages_ticks_and_failures(
    chats: dict[str, Customer], agent_a: Client, org_a: Organization
) -> None:
    with tenant_context(org_a):
        chats["a"].messages.create(
            sender_type="agent", body="We are open", type="text",
            timestamp=chats["a"].last_message_at, delivery_status="failed", error_code=131047,
            error_title="Re-engagement message",
        )
    html = agent_a.get(f"/inbox/{chats['a'].pk}/thread/").content.decode()
    assert "Asha of A says 0" in html and "We are open" in html
    assert "failed: Re-engagement message" in html


def test_mark_read_and_assign(chats: dict[str, Customer], org_a: Organization,
                              fake_graph: FakeGraph, number_a: WhatsAppNumber) -> None:
    agent = make_staff(org_a, Role.AGENT)
    client = signed_in(agent)
    assert client.post(f"/inbox/{chats['a'].pk}/read/").status_code == 200
    assert fake_graph.calls[-1].body["status"] == "read"  # the customer sees blue ticks
    response = client.post(f"/inbox/{chats['a'].pk}/assign/", {"agent": str(agent.pk)})
    assert response.status_code == 200
    with tenant_context(org_a):
        customer = Customer.objects.get(pk=chats["a"].pk)
    assert customer.last_read_at is not None and customer.user_id == agent.pk


@pytest.mark.parametrize("value", ["nobody", "00000000-0000-0000-0000-000000000000"])
def test_assigning_to_an_unknown_agent_is_400(chats: dict[str, Customer], agent_a: Client,
                                              value: str) -> None:
    response = agent_a.post(f"/inbox/{chats['a'].pk}/assign/", {"agent": value})
    assert response.status_code == 400 and b"agent" in response.content


def test_agents_cannot_assign_to_other_agents(chats: dict[str, Customer], agent_a: Client,
                                              org_a: Organization) -> None:
    other = make_staff(org_a, Role.AGENT)
    response = agent_a.post(f"/inbox/{chats['a'].pk}/assign/", {"agent": str(other.pk)})
    assert response.status_code == 403


def test_agent_of_b_cannot_be_assigned_in_a(chats: dict[str, Customer], org_a: Organization,
                                            org_b: Organization) -> None:
    admin = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    agent_b = make_staff(org_b, Role.AGENT)
    response = admin.post(f"/inbox/{chats['a'].pk}/assign/", {"agent": str(agent_b.pk)})
    assert response.status_code == 400


def test_platform_staff_choose_an_organization_first(
    chats: dict[str, Customer], org_a: Organization
) -> None:
    staff = make_staff(None, Role.SUPER_ADMIN)
    choose = signed_in(staff).get("/inbox/").content.decode()
    assert "Choose an organization" in choose and "Asha of A" not in choose
    in_a: Any = signed_in(staff, org_a).get("/inbox/").content.decode()
    assert "Asha of A" in in_a and "Bala of B" not in in_a


def test_malformed_filters_are_explained(chats: dict[str, Customer], agent_a: Client) -> None:
    for path in ("/inbox/", "/inbox/list/"):
        response = agent_a.get(path, {"mine": "perhaps"})
        assert response.status_code == 400 and b"mine: use 1 or 0" in response.content


def test_mark_read_without_a_number_still_moves_the_marker(
    chats: dict[str, Customer], agent_a: Client, org_a: Organization
) -> None:
    response = agent_a.post(f"/inbox/{chats['a'].pk}/read/")
    assert response.status_code == 409 and b"WhatsApp was not told" in response.content
    with tenant_context(org_a):
        assert Customer.objects.get(pk=chats["a"].pk).last_read_at is not None


def test_the_inbox_signs_out_with_a_post(chats: dict[str, Customer], org_a: Organization) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_staff(org_a, Role.AGENT))
    page = client.get("/inbox/").content.decode()
    form = page[page.index('<form class="sign-out"'):]
    form = form[:form.index("</form>")]
    assert 'method="post" action="/admin/logout/"' in form
    token = form.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    answer = client.post("/admin/logout/", {"csrfmiddlewaretoken": token,
                                            "next": "/admin/login/?next=/inbox/"})
    assert answer.status_code == 302 and answer["Location"] == "/admin/login/?next=/inbox/"
    assert client.get("/inbox/").status_code == 302  # signed out: sent to sign in again


BAD_RAW = [{"context": {"id": {"nested": "object"}}}, {"context": {"id": ["wamid.a"]}},
           ["a", "list"], "a string", 42, {"context": "wamid.a"},
           {"reaction": ["x"], "context": {"id": None}}]


@pytest.mark.usefixtures("python_scope")
def test_a_thread_with_stored_messages_of_any_raw_shape_loads(
    org_a: Organization, agent_a: Client
) -> None:
    """Rows stored before raw_message was checked (a reply context whose id is an object, a
    list or a string) must not make every later load of the conversation fail."""
    customer = conversation(org_a, "Asha", inbound=1)
    with tenant_context(org_a):
        for i, raw in enumerate(BAD_RAW):
            MessageFactory(customer=customer, body=f"odd {i}", raw_message=raw,
                           type="reaction" if i == len(BAD_RAW) - 1 else "text")
    for url in (f"/inbox/{customer.pk}/", f"/inbox/{customer.pk}/thread/"):
        page = agent_a.get(url)
        assert page.status_code == 200
        assert "odd 0" in page.content.decode() and "odd 5" in page.content.decode()


@pytest.mark.parametrize("url", ["/inbox/", "/inbox/list/"])
def test_a_nul_in_the_search_is_400_naming_q(
    chats: dict[str, Customer], agent_a: Client, url: str
) -> None:
    response = agent_a.get(url, {"q": "As\x00ha"})
    assert response.status_code == 400
    assert response.content.decode().startswith("q: remove the NUL character")

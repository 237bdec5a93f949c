"""GET /api/v1/conversations/, POST /api/v1/conversations/<id>/read/ and the event stream."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crm.inbox import events
from crm.models import Customer, Organization, Role
from tenancy.context import tenant_context
from tests.inbox_support import T0, conversation
from tests.test_api import client_for, staff
from tests.test_inbox_events import publish_as

URL = "/api/v1/conversations/"


@pytest.fixture
def chats(org_a: Organization, org_b: Organization) -> dict[str, Customer]:
    return {
        "asha": conversation(org_a, "Asha", inbound=2, at=T0),
        "ravi": conversation(org_a, "Ravi", inbound=1, outbound=1, at=T0 + timedelta(hours=1)),
        "bala": conversation(org_b, "Bala", at=T0 + timedelta(hours=2)),
    }


def test_list_of_the_callers_organization(chats: dict[str, Customer],
                                          org_a: Organization) -> None:
    response = client_for(staff(org_a, Role.AGENT)).get(URL)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["name"] for r in rows] == ["Ravi", "Asha"]
    asha = rows[1]
    assert (asha["unread"], asha["waiting"], asha["assigned_to"]) == (2, True, None)
    assert asha["last_message"]["body"] == "Asha says 1" and asha["last_message"]["inbound"]
    assert rows[0]["last_message"]["delivery_status"] == "sent"
    assert asha["window_open_until"].startswith("2026-12-01T09:01")


def test_pages_and_filters(chats: dict[str, Customer], org_a: Organization) -> None:
    client = client_for(staff(org_a, Role.AGENT))
    first = client.get(URL, {"page_size": 1, "q": "a"}).json()
    assert [r["name"] for r in first["results"]] == ["Ravi"]
    second = client.get(first["next"]).json()
    assert [r["name"] for r in second["results"]] == ["Asha"] and second["next"] is None
    assert [r["name"] for r in client.get(URL, {"waiting": 1}).json()["results"]] == ["Asha"]


@pytest.mark.parametrize("params", [{"page_size": "x"}, {"page_size": 0}, {"cursor": "zz"},
                                    {"waiting": "maybe"}])
def test_malformed_parameters_are_400(chats: dict[str, Customer], org_a: Organization,
                                      params: dict) -> None:
    response = client_for(staff(org_a, Role.AGENT)).get(URL, params)
    assert response.status_code == 400 and response.json()["detail"]


@pytest.mark.parametrize("params, said", [
    ({"q": "As\x00ha"}, "q: remove the NUL character"),
    ({"q": "As\x00ha", "page_size": "10"}, "q: remove the NUL character"),
    ({"page_size": "x"}, "page_size: a whole number from 1 to 200"),
    ({"page_size": "0"}, "page_size: between 1 and 200"),
])
def test_each_malformed_parameter_is_named(chats: dict[str, Customer], org_a: Organization,
                                           params: dict, said: str) -> None:
    """A NUL in `q` was answered as a page-size error (PostgreSQL's refusal is a ValueError)."""
    response = client_for(staff(org_a, Role.AGENT)).get(URL, params)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(said)


def test_read_marks_own_conversation_and_404s_another_organizations(
    chats: dict[str, Customer], org_a: Organization, org_b: Organization
) -> None:
    client = client_for(staff(org_a, Role.AGENT))
    assert client.post(f"{URL}{chats['bala'].pk}/read/").status_code == 404
    with tenant_context(org_b):
        assert Customer.objects.get(pk=chats["bala"].pk).last_read_at is None
    response = client.post(f"{URL}{chats['asha'].pk}/read/")
    assert response.status_code == 200
    assert response.json()["receipt"].startswith("not sent")  # A has no WhatsApp number
    rows = client.get(URL).json()["results"]
    assert [r["unread"] for r in rows] == [1, 0]


def test_anonymous_callers_are_refused(chats: dict[str, Customer]) -> None:
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_event_stream_for_api_clients_is_their_organization_only(
    org_a: Organization, org_b: Organization
) -> None:
    response = client_for(staff(org_b, Role.AGENT)).get(
        f"{URL}events/", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    chunks = iter(response.streaming_content)
    next(chunks)

    publish_as(org_a, events.CONVERSATION, customer="of-a")
    publish_as(org_b, events.CONVERSATION, customer="of-b")
    data = next(json.loads(c[5:]) for c in chunks if c.startswith(b"data:"))
    response.close()
    assert data == {"type": "conversation", "customer": "of-b"}


def test_conversations_are_in_the_openapi_schema(org_a: Organization) -> None:
    schema = client_for(staff(org_a, Role.AGENT)).get("/api/v1/schema/").content.decode()
    for path in ("/api/v1/conversations/", "/api/v1/conversations/{customer_id}/read/",
                 "/api/v1/conversations/events/"):
        assert path in schema

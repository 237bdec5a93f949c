"""The inbox's conversation list and thread (crm.inbox.queries) and its services."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.inbox import queries, services
from crm.models import Customer, Organization, Role
from tenancy.context import tenant_context, unscoped
from tests.factories import MessageFactory
from tests.inbox_support import T0, conversation
from tests.test_admin_support import make_staff


def names(org: Organization, user: Any, **filters: Any) -> list[str]:
    """Names on the first page of `user`'s list in `org` with these filters."""
    with tenant_context(org):
        page = queries.conversations(user, queries.Filters(**filters))
    return [row.customer.name for row in page.conversations]


@pytest.fixture
def world(org_a: Organization, org_b: Organization) -> dict[str, Any]:
    """Three conversations in A (one assigned), one in B, and an agent and admin of A."""
    agent = make_staff(org_a, Role.AGENT)
    admin = make_staff(org_a, Role.ORG_ADMIN)
    asha = conversation(org_a, "Asha", inbound=2, at=T0)  # waiting, 2 unread
    ravi = conversation(org_a, "Ravi", inbound=1, outbound=1, at=T0 + timedelta(hours=1),
                        user=agent, business_number="918000000001")
    meera = conversation(org_a, "Meera", inbound=1, at=T0 + timedelta(hours=2),
                         last_read_at=T0 + timedelta(hours=3))
    bala = conversation(org_b, "Bala", inbound=3, at=T0 + timedelta(hours=5))
    return {"agent": agent, "admin": admin, "asha": asha, "ravi": ravi, "meera": meera,
            "bala": bala}


def test_newest_activity_first_of_the_organization_only(world: dict[str, Any],
                                                        org_a: Organization) -> None:
    assert names(org_a, world["agent"]) == ["Meera", "Ravi", "Asha"]


def test_rows_carry_unread_waiting_last_message_and_agent(
    world: dict[str, Any], org_a: Organization
) -> None:
    with tenant_context(org_a):
        rows = {r.customer.name: r for r in queries.conversations(world["admin"]).conversations}
    assert (rows["Asha"].unread, rows["Asha"].waiting) == (2, True)
    assert (rows["Meera"].unread, rows["Meera"].waiting) == (0, True)  # read after it came
    assert (rows["Ravi"].unread, rows["Ravi"].waiting) == (1, False)  # we replied last
    assert rows["Ravi"].last_message.body == "Ravi reply 1"
    assert rows["Ravi"].customer.user == world["agent"]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"mine": True}, ["Ravi"]),
    ({"unassigned": True}, ["Meera", "Asha"]),
    ({"waiting": True}, ["Meera", "Asha"]),
    ({"number": "918000000001"}, ["Ravi"]),
    ({"search": "mee"}, ["Meera"]),
    ({"search": "bala"}, []),
])
def test_filters(world: dict[str, Any], org_a: Organization, filters: dict[str, Any],
                 expected: list[str]) -> None:
    assert names(org_a, world["agent"], **filters) == expected


def test_search_by_wa_id(world: dict[str, Any], org_a: Organization) -> None:
    assert names(org_a, world["agent"], search=world["asha"].wa_id[-6:]) == ["Asha"]


def test_agents_see_only_their_conversations_when_the_org_admin_says_so(
    world: dict[str, Any], org_a: Organization
) -> None:
    with unscoped():  # organizations are shared rows
        Organization.objects.filter(pk=org_a.pk).update(agents_see_all=False)
    assert names(org_a, world["agent"]) == ["Ravi"]
    assert names(org_a, world["admin"]) == ["Meera", "Ravi", "Asha"]
    with tenant_context(org_a):
        assert queries.conversation(world["agent"], world["asha"].pk) is None


def test_keyset_pages_walk_every_row_once(world: dict[str, Any], org_a: Organization) -> None:
    seen, cursor = [], None
    with tenant_context(org_a):
        while True:
            page = queries.conversations(world["admin"], cursor=cursor, page_size=1)
            seen += [row.customer.name for row in page.conversations]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == ["Meera", "Ravi", "Asha"]


def test_constant_queries_per_page(world: dict[str, Any], org_a: Organization) -> None:
    for i in range(6):
        conversation(org_a, f"Extra {i}", inbound=2, outbound=1)
    with tenant_context(org_a), CaptureQueriesContext(connection) as captured:
        page = queries.conversations(world["admin"])
        assert len(page.conversations) == 9
    # the page (with its subqueries), then the last messages, then the page's labels
    assert len(captured) == 3


@pytest.mark.parametrize("params", ["mine=maybe", "number=abc", "waiting=yes"])
def test_malformed_filters_say_how_to_fix_them(params: str) -> None:
    with pytest.raises(queries.BadRequest, match=params.split("=")[0]):
        queries.Filters.from_params(QueryDict(params))


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGEgY3Vyc29y"])
def test_malformed_cursor(world: dict[str, Any], org_a: Organization, cursor: str) -> None:
    with tenant_context(org_a), pytest.raises(queries.BadRequest, match="cursor"):
        queries.conversations(world["admin"], cursor=cursor)


def test_other_organizations_conversation_is_not_found(world: dict[str, Any],
                                                       org_a: Organization) -> None:
    with tenant_context(org_a):
        assert queries.conversation(world["admin"], world["bala"].pk) is None
        assert queries.conversation(world["admin"], "not-a-uuid") is None
        assert queries.conversation(world["admin"], world["asha"].pk) == world["asha"]


def test_thread_days_replies_and_reactions(org_a: Organization) -> None:
    customer = conversation(org_a, "Asha", inbound=1, outbound=1)
    with tenant_context(org_a):
        ours = customer.messages.get(sender_type="agent")
        MessageFactory(customer=customer, timestamp=T0 + timedelta(days=1), body="Thanks",
                       raw_message={"context": {"id": ours.message_id}})
        MessageFactory(customer=customer, timestamp=T0 + timedelta(days=1, minutes=1),
                       type="reaction", body="Reacted 👍",
                       raw_message={"reaction": {"message_id": ours.message_id, "emoji": "👍"}})
        items = queries.thread(customer)
    assert [(i.message.body, i.inbound, i.new_day) for i in items] == [
        ("Asha says 0", True, True), ("Asha reply 1", False, False), ("Thanks", True, True),
    ]
    assert items[1].reactions == ["👍"]
    assert items[2].replied_to == ours


def test_window_left(org_a: Organization) -> None:
    now = timezone.now()
    customer = Customer(last_inbound_at=now - timedelta(hours=23))
    assert timedelta(minutes=59) < queries.window_left(customer, now) <= timedelta(hours=1)
    assert queries.window_left(Customer(last_inbound_at=now - timedelta(days=2))) == timedelta(0)
    assert queries.window_left(Customer()) == timedelta(0)


def test_mark_read_moves_forward_only(world: dict[str, Any], org_a: Organization) -> None:
    with tenant_context(org_a):
        services.mark_read(world["asha"], T0 + timedelta(days=1), receipt=False)
        services.mark_read(world["asha"], T0, receipt=False)
        world["asha"].refresh_from_db()
    assert world["asha"].last_read_at == T0 + timedelta(days=1)
    assert names(org_a, world["agent"], waiting=True) == ["Meera", "Asha"]


def test_agents_take_free_conversations_and_release_their_own(
    world: dict[str, Any], org_a: Organization
) -> None:
    agent, other = world["agent"], make_staff(org_a, Role.AGENT)
    with tenant_context(org_a):
        services.assign(world["asha"], agent, by=agent)
        with pytest.raises(services.NotAllowed):
            services.assign(world["asha"], other, by=other)  # not theirs to take
        services.assign(world["asha"], None, by=agent)
        services.assign(world["asha"], other, by=world["admin"])
        assert Customer.objects.get(pk=world["asha"].pk).user == other

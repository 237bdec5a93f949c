"""The admin's shared tables and bulk paths: history (LogEntry), recent actions, deletions."""
from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.db import connection

from crm.models import Customer, Message, QuickReply, Role
from tenancy.context import tenant_context, unscoped
from tests.factories import CustomerFactory, MessageFactory, QuickReplyFactory
from tests.test_admin_support import admin_url, make_staff, signed_in


def _rename(client, customer: Customer, name: str) -> None:
    url = admin_url(Customer, "change", customer)
    data = {"name": name, "wa_id": customer.wa_id, "customer_status": "open"}
    for prefix in ("addresses", "orders", "messages"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    answer = client.post(url, data)
    assert answer.status_code == 302, answer.context["adminform"].form.errors


def test_history_shows_own_rows_and_b_history_is_a_missing_row(org_a, org_b) -> None:
    boss_a = make_staff(org_a, Role.ORG_ADMIN, "boss-a")
    boss_b = make_staff(org_b, Role.ORG_ADMIN, "boss-b")
    with tenant_context(org_a):
        mine = CustomerFactory()
    with tenant_context(org_b):
        theirs = CustomerFactory()
    client_a, client_b = signed_in(boss_a), signed_in(boss_b)
    _rename(client_a, mine, "Renamed by A")
    _rename(client_b, theirs, "Renamed by B")
    history = client_a.get(admin_url(Customer, "history", mine))
    assert [e.user_id for e in history.context["action_list"]] == [boss_a.pk]
    missing = client_a.get(admin_url(Customer, "history", theirs), follow=True)
    assert missing.redirect_chain == [("/admin/", 302)]
    assert "boss-b" not in missing.content.decode()
    assert "Renamed by B" not in missing.content.decode()
    said = [str(m) for m in missing.context["messages"]]
    assert said == [f"customer with ID “{theirs.pk}” doesn’t exist. Perhaps it was deleted?"]


def test_recent_actions_are_the_users_own(org_a, org_b) -> None:
    boss_a, colleague = make_staff(org_a, Role.ORG_ADMIN), make_staff(org_a, Role.ORG_ADMIN)
    boss_b = make_staff(org_b, Role.ORG_ADMIN)
    with tenant_context(org_a):
        mine, ours = CustomerFactory(), CustomerFactory()
    with tenant_context(org_b):
        theirs = CustomerFactory()
    _rename(signed_in(boss_a), mine, "Mine")
    _rename(signed_in(colleague), ours, "Colleague's")
    _rename(signed_in(boss_b), theirs, "Theirs")
    assert LogEntry.objects.count() == 3
    index = signed_in(boss_a).get("/admin/").content.decode()
    assert admin_url(Customer, "change", mine) in index
    assert admin_url(Customer, "change", theirs) not in index
    assert "Theirs" not in index and "Colleague" not in index


def test_delete_confirmation_lists_only_own_related_rows(org_a, org_b) -> None:
    with tenant_context(org_a):
        mine = CustomerFactory()
        own_message = MessageFactory(customer=mine, body="our message")
    with tenant_context(org_b):
        stray = MessageFactory(body="their message")
    # Legacy data the audit reports: B's message pointing at A's customer, planted around the ORM
    # (unscoped: the row-level security policies let nothing else write across organizations).
    with unscoped(), connection.cursor() as cursor:
        cursor.execute("UPDATE messages SET customer_id = %s WHERE id = %s", [mine.pk, stray.pk])
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    page = client.get(admin_url(Customer, "delete", mine))
    content = page.content.decode()
    protected = " ".join(str(p) for p in page.context["protected"])  # messages must go first
    assert admin_url(Message, "change", own_message) in protected
    assert admin_url(Message, "change", stray) not in content
    assert "their message" not in content
    with unscoped():
        assert Message.objects.filter(pk=stray.pk, organization=org_b).exists()


def test_bulk_actions_touch_only_own_rows(org_a, org_b) -> None:
    with tenant_context(org_a):
        mine = QuickReplyFactory(title="ours")
    with tenant_context(org_b):
        theirs = QuickReplyFactory(title="theirs")
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    chosen = [str(mine.pk), str(theirs.pk)]
    selected = {"action": "delete_selected", ACTION_CHECKBOX_NAME: chosen}
    confirm = client.post(admin_url(QuickReply), selected)
    assert confirm.status_code == 200
    assert [str(o) for o in confirm.context["queryset"]] == ["ours"]
    assert "theirs" not in confirm.content.decode()
    assert client.post(admin_url(QuickReply), {**selected, "post": "yes"}).status_code == 302
    with unscoped():
        assert set(QuickReply.objects.values_list("title", flat=True)) == {"theirs"}

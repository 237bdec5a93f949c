"""Exports: customers, a conversation, leads and orders as streamed CSV or XLSX, only the
organization's rows (the Python scope off too), and text never read as a formula."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from crm.contacts.services import add_labels
from crm.models import Organization, Role
from tenancy.context import tenant_context
from tests.factories import (
    AttributeDefinitionFactory,
    CustomerFactory,
    LeadFactory,
    MessageFactory,
    OrderItemFactory,
)
from tests.test_api import client_for, staff


def _body(answer: Any) -> bytes:
    assert answer.status_code == 200, answer.content
    assert isinstance(answer, StreamingHttpResponse)
    return b"".join(answer.streaming_content)


def _csv(answer: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_body(answer).decode())))


def _world(org: Organization, name: str) -> Any:
    with tenant_context(org):
        customer = CustomerFactory(name=name)
        MessageFactory(customer=customer, body=f"hello from {name}")
        LeadFactory(customer=customer, first_name=name)
        OrderItemFactory(order__customer=customer, total_price=250.0)
        return customer


@pytest.mark.usefixtures("python_scope")
def test_each_export_holds_only_the_organizations_rows(org_a, org_b) -> None:
    mine, theirs = _world(org_a, "=Asha"), _world(org_b, "Bilal")
    client = client_for(staff(org_a))
    rows = _csv(client.get("/api/v1/exports/customers/"))
    assert rows[0][:3] == ["id", "wa_id", "name"]
    assert [row[1:3] for row in rows[1:]] == [[mine.wa_id, "'=Asha"]]  # never a formula
    leads = _csv(client.get("/api/v1/exports/leads/"))
    assert [row[1] for row in leads[1:]] == [mine.wa_id]
    orders = _csv(client.get("/api/v1/exports/orders/"))
    assert [(row[1], row[6], row[7]) for row in orders[1:]] == [(mine.wa_id, "1", "250.0")]
    thread = _csv(client.get(f"/api/v1/exports/conversations/{mine.pk}/"))
    assert [row[3] for row in thread[1:]] == ["hello from =Asha"]
    assert client.get(f"/api/v1/exports/conversations/{theirs.pk}/").status_code == 404


def test_xlsx_exports_open_in_a_spreadsheet(org_a) -> None:
    with tenant_context(org_a):
        CustomerFactory.create_batch(3)
    answer = client_for(staff(org_a)).get("/api/v1/exports/customers/?format=xlsx")
    assert answer["Content-Disposition"] == 'attachment; filename="customers.xlsx"'
    sheet = load_workbook(io.BytesIO(_body(answer)), read_only=True).worksheets[0]
    assert len(list(sheet.iter_rows(values_only=True))) == 4


def test_bad_export_requests_say_what_to_ask(org_a) -> None:
    client = client_for(staff(org_a))
    assert client.get("/api/v1/exports/nope/").status_code == 404
    answer = client.get("/api/v1/exports/customers/?format=pdf")
    assert answer.status_code == 400 and "format" in answer.json()
    assert client.get("/api/v1/exports/conversations/nope/").status_code == 404


def test_an_agent_limited_to_own_chats_exports_only_those(org_a) -> None:
    agent = staff(org_a, Role.AGENT)
    with tenant_context(org_a):
        Organization.objects.filter(pk=org_a.pk).update(agents_see_all=False)
        own = CustomerFactory(user=agent)
        CustomerFactory()
    rows = _csv(client_for(agent).get("/api/v1/exports/customers/"))
    assert [row[0] for row in rows[1:]] == [str(own.pk)]


def test_customers_come_with_labels_and_a_column_per_attribute(org_a) -> None:
    with tenant_context(org_a):
        AttributeDefinitionFactory(key="city")
        AttributeDefinitionFactory(key="visits", type="number")
        customer = CustomerFactory(attributes={"city": "Pune", "visits": 3})
        add_labels(customer, ["vip", "new"])
        CustomerFactory(attributes={})
    rows = _csv(client_for(staff(org_a)).get("/api/v1/exports/customers/"))
    assert rows[0][-3:] == ["labels", "city", "visits"]
    assert sorted(row[-3:] for row in rows[1:]) == [["", "", ""], ["new, vip", "Pune", "3"]]

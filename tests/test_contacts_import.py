"""Contact imports: CSV and XLSX, numbers in the default country, rejected rows, idempotence,
the Celery job's progress, and isolation (the Python scope off too)."""
from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from crm.contacts.services import add_labels
from crm.models import ContactImport, Customer, CustomerLabel, Label, Organization, Role
from tenancy.context import tenant_context, unscoped
from tests.celery_support import eager  # noqa: F401  (fixture)
from tests.factories import AttributeDefinitionFactory, ContactImportFactory, CustomerFactory
from tests.test_api import client_for, staff

CSV = ("Name,Mobile,City\n"
       "Asha,98765 43210,Pune\n"
       "Ravi,+91 91234 56789,Delhi\n"
       "Nobody,12345,Goa\n"
       ",,\n"
       "Meera,,Agra\n"
       "Asha Again,919876543210,Pune\n")


def _upload(client: Any, content: bytes, name: str = "contacts.csv", **fields: Any) -> Any:
    data = {"file": SimpleUploadedFile(name, content), **fields}
    return client.post("/api/v1/contacts/import/", data, format="multipart")


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _customers(org: Organization) -> dict[str, str | None]:
    with tenant_context(org):
        return dict(Customer.objects.values_list("wa_id", "name"))


def test_a_csv_imports_with_numbers_in_the_default_country(org_a, org_b) -> None:
    client = client_for(staff(org_a))
    answer = _upload(client, CSV.encode(), mapping=json.dumps({"phone": "Mobile"}))
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["status"] == "done"
    assert (body["created_count"], body["updated_count"], body["rejected_count"]) == (2, 0, 2)
    assert body["rejected"] == [
        {"row": 4, "reason": "'12345' is not a valid phone number (read in IN)"},
        {"row": 6, "reason": "no phone number"},
    ]
    # The later row of one number wins; a blank line is no row.
    assert _customers(org_a) == {"919876543210": "Asha Again", "919123456789": "Ravi"}
    assert _customers(org_b) == {}


def test_the_same_file_twice_changes_nothing_and_updates_never_duplicate(org_a) -> None:
    with tenant_context(org_a):
        CustomerFactory(wa_id="919123456789", name="Old name")
    client = client_for(staff(org_a))
    first = _upload(client, CSV.encode()).json()
    assert (first["created_count"], first["updated_count"]) == (1, 1)
    again = _upload(client, CSV.encode()).json()
    assert (again["created_count"], again["updated_count"], again["unchanged_count"]) == (0, 0, 2)
    assert again["rejected"] == first["rejected"]
    assert _customers(org_a) == {"919876543210": "Asha Again", "919123456789": "Ravi"}


def test_an_xlsx_file_and_the_organizations_country(org_a) -> None:
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(default_country="AE")
    client = client_for(staff(org_a))
    content = _xlsx([["Phone", "Name"], [501234567, "Omar"], ["+91 98765 43210", "Asha"]])
    answer = _upload(client, content, name="list.xlsx")
    assert answer.status_code == 201, answer.content
    assert _customers(org_a) == {"971501234567": "Omar", "919876543210": "Asha"}


@pytest.mark.parametrize(("content", "fields", "field"), [
    (b"Name,Email\nA,a@x\n", {}, "mapping"),  # no phone column to guess
    (CSV.encode(), {"mapping": json.dumps({"phone": "Nope"})}, "mapping"),
    (CSV.encode(), {"mapping": "{"}, "mapping"),
    (CSV.encode(), {"mapping": json.dumps({"email": "Name"})}, "mapping"),
    (b"", {}, "file"),
    ("Phone\n9876543210\n".encode("utf-16"), {}, "file"),
    (b"not a zip", {"format": "xlsx"}, "file"),
])
def test_a_bad_file_or_mapping_is_a_400_naming_the_field(org_a, content, fields, field) -> None:
    answer = _upload(client_for(staff(org_a)), content, **fields)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    with tenant_context(org_a):
        assert not ContactImport.objects.exists()


def test_a_file_over_the_limits_is_refused(org_a, settings) -> None:
    settings.CONTACT_IMPORT_MAX_BYTES = 20
    answer = _upload(client_for(staff(org_a)), CSV.encode())
    assert answer.status_code == 400 and "limit" in answer.json()["file"][0]
    settings.CONTACT_IMPORT_MAX_BYTES = 10_000
    settings.CONTACT_IMPORT_MAX_ROWS = 2
    answer = _upload(client_for(staff(org_a)), CSV.encode())
    assert answer.status_code == 201
    assert answer.json()["status"] == "failed" and "more than 2 rows" in answer.json()["error"]


@pytest.mark.usefixtures("eager")
def test_a_large_file_runs_as_a_job_with_progress(
        org_a, org_b, settings, django_capture_on_commit_callbacks) -> None:
    settings.CONTACT_IMPORT_INLINE_BYTES = 10
    settings.CONTACT_IMPORT_BATCH = 2
    client = client_for(staff(org_a))
    with django_capture_on_commit_callbacks(execute=True) as queued:
        answer = _upload(client, CSV.encode())
    assert answer.status_code == 202, answer.content
    assert len(queued) == 1  # the job is queued once the import is stored
    progress = client.get(f"/api/v1/contacts/imports/{answer.json()['id']}/").json()
    assert progress["status"] == "done"
    assert (progress["total_rows"], progress["processed_rows"]) == (4, 4)
    assert (progress["created_count"], progress["rejected_count"]) == (2, 2)
    with tenant_context(org_a):
        assert ContactImport.objects.get().data is None  # the file is not kept once imported
    assert _customers(org_b) == {}


def test_agents_may_not_import(org_a) -> None:
    answer = _upload(client_for(staff(org_a, Role.AGENT)), CSV.encode())
    assert answer.status_code == 403


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_import_is_a_404(org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = ContactImportFactory()
    client = client_for(staff(org_a))
    assert client.get(f"/api/v1/contacts/imports/{theirs.pk}/").status_code == 404
    assert client.get("/api/v1/contacts/imports/nope/").status_code == 404
    with tenant_context(org_a):
        mine = ContactImportFactory()
    assert client.get(f"/api/v1/contacts/imports/{mine.pk}/").json()["status"] == "done"


@pytest.mark.usefixtures("python_scope")
def test_an_import_writes_only_its_own_organization(org_a, org_b) -> None:
    with tenant_context(org_b):
        CustomerFactory(wa_id="919876543210", name="B's Asha")
    _upload(client_for(staff(org_a)), CSV.encode())
    assert _customers(org_b) == {"919876543210": "B's Asha"}
    assert _customers(org_a)["919876543210"] == "Asha Again"


def test_the_default_country_is_patched_by_the_org_admin(org_a) -> None:
    client = client_for(staff(org_a))
    answer = client.patch("/api/v1/organization/", {"default_country": "ae"}, format="json")
    assert answer.status_code == 200 and answer.json()["default_country"] == "AE"
    answer = client.patch("/api/v1/organization/", {"default_country": "XX"}, format="json")
    assert answer.status_code == 400 and "default_country" in answer.json()


def test_labels_and_attributes_are_imported_checked_and_merged(org_a) -> None:
    with tenant_context(org_a):
        AttributeDefinitionFactory(key="city", type="text")
        AttributeDefinitionFactory(key="visits", type="number")
        known = CustomerFactory(wa_id="919123456789", attributes={"city": "Delhi", "tier": "x"})
        add_labels(known, ["Old"])
    content = ("Phone,Tags,City,Visits\n"
               "9876543210,\"VIP, new;vip\",Pune,3\n"
               "9123456789,new,Delhi,\n"
               "9988776655,,Agra,many\n").encode()
    mapping = json.dumps({"labels": "Tags", "attributes": {"city": "City", "visits": "Visits"}})
    client = client_for(staff(org_a))
    first = _upload(client, content, mapping=mapping).json()
    assert first["rejected"] == [{"row": 4, "reason": "visits: give a number, such as 42 or 3.5."}]
    assert (first["created_count"], first["updated_count"], first["unchanged_count"]) == (1, 0, 1)
    with tenant_context(org_a):
        rows = {c.wa_id: c for c in Customer.objects.all()}
        labels = {wa: sorted(CustomerLabel.objects.filter(customer__wa_id=wa)
                             .values_list("label__name", flat=True)) for wa in rows}
        assert sorted(Label.objects.values_list("name", flat=True)) == ["Old", "VIP", "new"]
    assert rows["919876543210"].attributes == {"city": "Pune", "visits": 3}
    assert rows["919123456789"].attributes == {"city": "Delhi", "tier": "x"}
    assert labels == {"919876543210": ["VIP", "new"], "919123456789": ["Old", "new"]}
    again = _upload(client, content, mapping=mapping).json()
    assert (again["created_count"], again["updated_count"], again["unchanged_count"]) == (0, 0, 2)
    with tenant_context(org_a):
        assert CustomerLabel.objects.count() == 4


def test_an_undefined_attribute_in_the_mapping_is_a_400(org_a) -> None:
    mapping = json.dumps({"attributes": {"city": "City"}})
    answer = _upload(client_for(staff(org_a)), CSV.encode(), mapping=mapping)
    assert answer.status_code == 400 and "define it first" in answer.json()["mapping"][0]

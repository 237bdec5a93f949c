"""The contacts page: an ORG_ADMIN uploads a file and sees its progress; agents may not import;
another organization's import is a 404 (the Python scope off too)."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import Customer, Role
from tenancy.context import tenant_context
from tests.factories import ContactImportFactory
from tests.test_admin_support import make_staff, signed_in


def test_an_org_admin_imports_a_file_and_sees_its_progress(org_a) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    page = client.get("/contacts/")
    assert page.status_code == 200 and 'name="file"' in page.content.decode()
    answer = client.post("/contacts/import/", {
        "file": SimpleUploadedFile("list.csv", b"Mobile,Name\n9876543210,Asha\n1,Bad\n"),
        "phone": "Mobile"})
    assert answer.status_code == 200, answer.content
    text = answer.content.decode()
    assert 'data-status="done"' in text and "1 new" in text
    assert "Row 3: &#x27;1&#x27; is not a valid phone number" in text
    with tenant_context(org_a):
        assert Customer.objects.get().name == "Asha"
    assert "list.csv" in client.get("/contacts/").content.decode()


def test_a_refused_file_says_why_and_agents_may_not_import(org_a) -> None:
    admin = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = admin.post("/contacts/import/", {
        "file": SimpleUploadedFile("list.csv", b"Name\nAsha\n")})
    assert answer.status_code == 400 and b"phone number" in answer.content
    answer = admin.post("/contacts/import/", {
        "file": SimpleUploadedFile("list.csv", b"Phone\n1\n"), "attributes": "{"})
    assert answer.status_code == 400 and b"JSON" in answer.content
    agent = signed_in(make_staff(org_a, Role.AGENT))
    assert "Only an ORG_ADMIN" in agent.get("/contacts/").content.decode()
    answer = agent.post("/contacts/import/", {
        "file": SimpleUploadedFile("list.csv", b"Phone\n9876543210\n")})
    assert answer.status_code == 403


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_import_is_a_404_on_the_page(org_a, org_b) -> None:
    with tenant_context(org_b):
        theirs = ContactImportFactory()
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    assert client.get(f"/contacts/imports/{theirs.pk}/").status_code == 404
    assert theirs.file_name not in client.get("/contacts/").content.decode()

"""The organization's settings page and logo: the ORG_ADMIN changes them (agents never), a logo
is taken by its content only and served to signed-in members of its organization only."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crm.lifecycle.tables import media_files
from crm.models import AuditEvent, Organization, Role, User
from tenancy.context import tenant_context
from tests.logo_support import jpeg, png, webp
from tests.test_admin_support import make_staff, signed_in
from tests.test_api import client_for
from tests.test_fuzz import FORM_VALUES, JSON_TEXTS

HX = {"HTTP_HX_REQUEST": "true"}
HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {
    "sat": [], "sun": []}
SETTINGS = {"name": "Org A Renamed", "time_zone": "Asia/Dubai", "default_country": "AE",
            "business_hours": json.dumps(HOURS), "agents_see_all": ""}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


@pytest.fixture
def admin_a(org_a: Organization) -> User:
    return make_staff(org_a, Role.ORG_ADMIN)


def _org(org: Organization) -> Organization:
    return Organization.objects.get(pk=org.pk)


def _upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type)


def _stored(tmp: str) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in Path(tmp).rglob("*") if p.is_file())


def test_the_org_admin_changes_the_settings_on_the_page(
        admin_a: User, org_a: Organization) -> None:
    client = signed_in(admin_a)
    page = client.get("/settings/")
    assert page.status_code == 200
    for field in ("name", "time_zone", "business_hours", "default_country", "agents_see_all",
                  "logo"):
        assert f'name="{field}"' in page.content.decode()
    assert 'href="/settings/"' in client.get("/inbox/").content.decode()  # in the navigation
    assert client.post("/settings/", SETTINGS).status_code == 302
    org = _org(org_a)
    assert (org.name, org.time_zone, org.default_country, org.agents_see_all) == (
        "Org A Renamed", "Asia/Dubai", "AE", False)
    assert org.business_hours == HOURS
    refused = client.post("/settings/", {**SETTINGS, "time_zone": "Mars/Olympus",
                                         "business_hours": '{"mon": "all day"}'}, **HX)
    assert refused.status_code == 400
    assert b"Mars/Olympus" in refused.content and b'id="settings-form"' in refused.content
    assert _org(org_a).time_zone == "Asia/Dubai"
    saved = client.post("/settings/", {**SETTINGS, "name": "Org A"}, **HX)
    assert saved.status_code == 200 and b"Saved." in saved.content
    with tenant_context(org_a):
        entry = AuditEvent.objects.filter(action="organization.settings_changed").first()
    assert entry.actor_name == admin_a.username and "name" in entry.details["fields"]


def test_hostile_settings_are_refused_never_a_5xx(admin_a: User, org_a: Organization) -> None:
    client = signed_in(admin_a)
    client.raise_request_exception = True
    for value in FORM_VALUES:
        for name in SETTINGS:
            answer = client.post("/settings/", {**SETTINGS, name: value})
            assert answer.status_code in (302, 400), (name, value)
    for text in JSON_TEXTS:
        answer = client.post("/settings/", {**SETTINGS, "business_hours": text})
        assert answer.status_code == 400, text
    assert client.post("/settings/logo/", {"logo": "not a file"}).status_code == 400
    assert "\x00" not in repr(_org(org_a).name)


def test_agents_cannot_change_the_settings_by_page_or_api(org_a: Organization) -> None:
    agent = make_staff(org_a, Role.AGENT)
    client, api = signed_in(agent), client_for(agent)
    assert client.get("/settings/").status_code == 403
    assert client.post("/settings/", SETTINGS).status_code == 403
    assert client.post("/settings/logo/", {"logo": _upload("a.png", png())}).status_code == 403
    assert 'href="/settings/"' not in client.get("/inbox/").content.decode()
    assert api.patch("/api/v1/organization/", {"name": "x"}, format="json").status_code == 403
    assert api.put("/api/v1/organization/logo/", {"logo": _upload("a.png", png())},
                   format="multipart").status_code == 403
    assert api.delete("/api/v1/organization/logo/").status_code == 403
    assert _org(org_a).name == "Org A" and _org(org_a).logo is None
    root = make_staff(None, Role.SUPER_ADMIN)  # platform staff, acting as the chosen organization
    assert signed_in(root, org_a).get("/settings/").status_code == 200


def test_a_png_named_exe_becomes_the_logo_under_a_name_the_server_chose(
        admin_a: User, org_a: Organization, settings: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    client = signed_in(admin_a)
    data = png()
    answer = client.post("/settings/logo/", {"logo": _upload(
        "evil.exe", data, "application/x-msdownload")})
    assert answer.status_code == 302
    org = _org(org_a)
    assert re.fullmatch(rf"organization-logos/{org_a.pk}/[0-9a-f]{{32}}\.png", org.logo)
    assert _stored(settings.MEDIA_ROOT) == [org.logo]
    served = client.get(org.logo_url)
    assert served.status_code == 200 and b"".join(served.streaming_content) == data
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]
    assert f'src="{org.logo_url}"' in client.get("/inbox/").content.decode()  # the header
    with tenant_context(org_a):
        entry = AuditEvent.objects.get(action="organization.logo_changed")
    assert entry.details == {"type": "image/png", "width": 16, "height": 8}
    # Replaced by a JPEG: the PNG's file goes once the change committed.
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/settings/logo/", {"logo": _upload("x.png", jpeg())}, **HX)
    assert answer.status_code == 200 and b"Saved." in answer.content
    new = _org(org_a).logo
    assert new.endswith(".jpg") and _stored(settings.MEDIA_ROOT) == [new]
    assert client.get(org.logo_url).status_code == 404  # the old name is gone


@pytest.mark.parametrize("name,data,problem", [
    ("logo.png", b"<!doctype html><script>alert(document.cookie)</script>", b"PNG, JPEG or WebP"),
    ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
     b"PNG, JPEG or WebP"),
    ("logo.png", png(tail=b"<html><script>alert(1)</script></html>"), b"damaged"),
    ("logo.png", png(5000, 2), b"5000x2 pixels"),
    ("logo.png", png() + os.urandom(1024 * 1024), b"larger than 1024 KB"),
])
def test_hostile_uploads_are_refused_and_nothing_is_kept(
        admin_a: User, org_a: Organization, settings: Any, name: str, data: bytes,
        problem: bytes) -> None:
    answer = signed_in(admin_a).post("/settings/logo/", {"logo": _upload(name, data)}, **HX)
    assert answer.status_code == 400 and problem in answer.content
    api = client_for(admin_a).put("/api/v1/organization/logo/", {"logo": _upload(name, data)},
                                  format="multipart")
    assert api.status_code == 400 and problem.decode() in api.content.decode()
    assert _org(org_a).logo is None and _stored(settings.MEDIA_ROOT) == []


def test_the_api_puts_and_deletes_the_logo(admin_a: User, org_a: Organization, settings: Any,
                                           django_capture_on_commit_callbacks: Any) -> None:
    api = client_for(admin_a)
    answer = api.put("/api/v1/organization/logo/", {"logo": _upload("l.webp", webp())},
                     format="multipart")
    assert answer.status_code == 200, answer.content
    url = answer.json()["logo_url"]
    assert url.endswith(".webp") and api.get("/api/v1/organization/").json()["logo_url"] == url
    assert signed_in(admin_a).get(url)["Content-Type"] == "image/webp"
    assert api.put("/api/v1/organization/logo/", {}, format="multipart").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete("/api/v1/organization/logo/").status_code == 204
    assert _org(org_a).logo is None and _stored(settings.MEDIA_ROOT) == []
    assert api.get("/api/v1/organization/").json()["logo_url"] is None
    assert signed_in(admin_a).get(url).status_code == 404


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_logo_is_not_found(org_a: Organization, org_b: Organization,
                                                 django_capture_on_commit_callbacks: Any) -> None:
    admin_b = make_staff(org_b, Role.ORG_ADMIN)
    assert signed_in(admin_b).post("/settings/logo/", {
        "logo": _upload("b.png", png())}).status_code == 302
    theirs = _org(org_b)
    member_b = signed_in(make_staff(org_b, Role.AGENT))
    assert member_b.get(theirs.logo_url).status_code == 200  # an agent of B sees B's logo
    for user in (make_staff(org_a, Role.ORG_ADMIN), make_staff(org_a, Role.AGENT)):
        assert signed_in(user).get(theirs.logo_url).status_code == 404
    anonymous = Client().get(theirs.logo_url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    # A's admin changing A's logo and settings leaves B's as they were.
    api_a = client_for(make_staff(org_a, Role.ORG_ADMIN))
    assert api_a.put("/api/v1/organization/logo/", {"logo": _upload("a.png", png())},
                     format="multipart").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert api_a.delete("/api/v1/organization/logo/").status_code == 204
    assert _org(org_b).logo == theirs.logo and _org(org_a).logo is None
    assert list(media_files(org_b.pk)) == [theirs.logo]  # exported and deleted with B
    assert list(media_files(org_a.pk)) == []
    with tenant_context(org_a):
        assert not AuditEvent.objects.filter(actor_id=admin_b.pk).exists()

"""Embedded Signup: POST /api/v1/whatsapp/embedded-signup/ connects a number through Meta's
steps (fake Graph API), all or nothing, for the ORG_ADMIN; each failing step named, no row kept."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bench.fake_graph import FakeGraph
from crm.models import Organization, Role, Template, User, WhatsAppApiLog, WhatsAppNumber
from tenancy.context import tenant_context
from tests.factories import WhatsAppNumberFactory
from tests.test_admin_support import make_staff, signed_in
from tests.test_api import client_for

URL = "/api/v1/whatsapp/embedded-signup/"
WABA, NUMBER = "300000000000001", "200000000000001"
SIGNUP = {"code": "AQDcode", "waba_id": WABA, "phone_number_id": NUMBER}


@pytest.fixture
def admin_a(org_a: Organization, settings: Any) -> User:
    settings.WHATSAPP_APP_ID = "100000000000001"
    settings.WHATSAPP_APP_SECRET = "app-secret-xyz"
    return make_staff(org_a, Role.ORG_ADMIN, "boss")


def _connect(user: User, **changes: str) -> Any:
    return client_for(user).post(URL, {**SIGNUP, **changes}, format="json")


def _numbers(org: Organization) -> list[WhatsAppNumber]:
    with tenant_context(org):
        return list(WhatsAppNumber.objects.all())


def test_a_number_is_connected_verified_with_its_token_pin_and_templates(
        admin_a: User, org_a: Organization, fake_graph: FakeGraph) -> None:
    fake_graph.add_template(WABA, "order_ready")
    answer = _connect(admin_a)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["phone_number_id"] == NUMBER and body["verification_status"] == "verified"
    assert body["display_number"].startswith("+1 555") and body["verified_name"]
    assert body["quality_rating"] == "GREEN"
    assert "registration_pin" not in body and "access_token" not in body
    [number] = _numbers(org_a)
    assert number.whatsapp_business_account_id == WABA and number.access_token.startswith("EAA")
    register = next(c for c in fake_graph.calls if c.path.endswith("/register"))
    assert register.body["pin"] == number.registration_pin and len(number.registration_pin) == 6
    assert [c.path.rsplit("/", 1)[-1] for c in fake_graph.calls] == [
        "access_token", NUMBER, "subscribed_apps", "register", "message_templates"]
    with tenant_context(org_a):
        assert Template.objects.filter(template_name="order_ready").exists()
        logged = " ".join(str(log.request_payload) + str(log.response_body)
                          for log in WhatsAppApiLog.objects.all())
    assert "app-secret-xyz" not in logged and "AQDcode" not in logged
    assert number.access_token not in logged
    again = _connect(admin_a)  # connecting it again refreshes the same row, same PIN
    assert again.status_code == 201 and len(_numbers(org_a)) == 1
    assert _numbers(org_a)[0].registration_pin == number.registration_pin


@pytest.mark.parametrize(("path", "code", "step", "status"), [
    ("/oauth/access_token", 100, "exchange", 400),
    (f"/{NUMBER}", 190, "read", 400),
    ("/subscribed_apps", 200, "subscribe", 400),
    ("/register", 133005, "register", 400),
    ("/message_templates", 2, "templates", 502),
])
def test_each_failing_meta_step_is_named_and_nothing_is_kept(
        admin_a: User, org_a: Organization, fake_graph: FakeGraph, path: str, code: int,
        step: str, status: int) -> None:
    fake_graph.fail(code, path=path, message="(fake) refused")
    answer = _connect(admin_a)
    assert answer.status_code == status, answer.json()
    assert answer.json()["step"] == step and "Nothing was stored" in answer.json()["detail"]
    assert _numbers(org_a) == []


def test_bad_ids_and_missing_settings_are_refused_before_meta(
        admin_a: User, fake_graph: FakeGraph, settings: Any) -> None:
    bad = _connect(admin_a, waba_id="../me")
    assert bad.status_code == 400 and "waba_id" in bad.json()
    assert _connect(admin_a, phone_number_id="12a").status_code == 400
    assert _connect(admin_a, code="").status_code == 400
    settings.WHATSAPP_APP_ID = ""
    off = _connect(admin_a)
    assert off.status_code == 409 and "WHATSAPP_APP_ID" in off.json()["detail"]
    assert fake_graph.calls == []


def test_only_the_org_admin_connects(org_a: Organization, fake_graph: FakeGraph) -> None:
    agent = make_staff(org_a, Role.AGENT, "agent")
    assert _connect(agent).status_code == 403
    assert fake_graph.calls == []


@pytest.mark.usefixtures("python_scope")
def test_a_number_of_another_organization_is_refused_without_naming_it(
        admin_a: User, org_a: Organization, org_b: Organization, fake_graph: FakeGraph) -> None:
    with tenant_context(org_b):
        WhatsAppNumberFactory(phone_number_id=NUMBER)
    answer = _connect(admin_a)
    assert answer.status_code == 409, answer.json()
    assert org_b.name not in str(answer.json()) and org_b.code not in str(answer.json())
    assert _numbers(org_a) == [] and not any(
        c.path.endswith(("/register", "/subscribed_apps")) for c in fake_graph.calls)


def test_the_connect_page_links_from_onboarding_and_posts_by_hand(
        admin_a: User, settings: Any, fake_graph: FakeGraph, org_a: Organization) -> None:
    settings.WHATSAPP_EMBEDDED_SIGNUP_BY_HAND = True
    browser: Client = signed_in(admin_a)
    assert b"/whatsapp/connect/" in browser.get("/onboarding/").content
    page = browser.get("/whatsapp/connect/")
    assert page.status_code == 200
    assert b"WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID" in page.content  # not set: says what to set
    assert b"connect.facebook.net" not in page.content
    settings.WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID = "555"
    page = browser.get("/whatsapp/connect/")
    assert b"connect.facebook.net" in page.content and b'"555"' in page.content
    posted = browser.post("/whatsapp/connect/", SIGNUP)
    assert posted.status_code == 200 and b"Connected" in posted.content
    assert [n.phone_number_id for n in _numbers(org_a)] == [NUMBER]
    fake_graph.fail(100, path="/oauth/access_token")
    failed = browser.post("/whatsapp/connect/", SIGNUP)
    assert failed.status_code == 400 and b"exchanging" in failed.content


def test_the_connect_page_shows_the_organizations_numbers_and_their_health(
        admin_a: User, org_a: Organization, org_b: Organization) -> None:
    with tenant_context(org_a):
        WhatsAppNumberFactory(phone_number_id="200000000000011", display_number="+91 80000 00011",
                              quality_rating="RED", messaging_limit_tier="TIER_1K",
                              account_restriction="Restricted from messaging until 2026-12-10")
    with tenant_context(org_b):
        WhatsAppNumberFactory(phone_number_id="200000000000022", display_number="+91 80000 00022",
                              quality_rating="GREEN")
    page = signed_in(admin_a).get("/whatsapp/connect/").content.decode()
    assert 'data-number="200000000000011"' in page
    assert "RED" in page and "TIER_1K" in page and "Restricted from messaging" in page
    assert "200000000000022" not in page and "00022" not in page  # B's number stays B's

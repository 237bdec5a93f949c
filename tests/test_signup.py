"""Self-serve sign-up: a new organization and its ORG_ADMIN, who confirms the e-mail before the
organization may send; usernames stay unique per organization only."""
from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from crm.models import Customer, Organization, Role, User
from crm.whatsapp.refusals import Refused
from crm.whatsapp.send import send_message
from tenancy.context import tenant_context, unscoped
from tests.account_support import (
    SIGNUP,
    STRONG,
    link_token,
    mailed,
    sign_up,
    token_for,
    with_token,
)
from tests.test_admin_support import PASSWORD, make_staff


def _organization(code: str) -> Organization:
    with unscoped():  # organizations are shared rows
        return Organization.objects.get(code=code)


def test_sign_up_makes_an_unconfirmed_organization_that_cannot_send_until_confirmed(
    db: None,
) -> None:
    answer = sign_up()
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["organization"]["code"] == "sunrise-clinic" and body["email_confirmed"] is False
    organization = _organization("sunrise-clinic")
    assert not organization.email_confirmed
    with tenant_context(organization):
        admin = User.objects.get(pk=body["user"])
        assert admin.role_name == Role.ORG_ADMIN and admin.email == SIGNUP["email"]
        customer = Customer.objects.create(wa_id="919800000001", name="C")
        with pytest.raises(Refused) as refused:
            send_message(customer, {"type": "text", "text": {"body": "hello"}})
    assert refused.value.code == "sending_blocked" and "confirm" in refused.value.detail
    assert mail.outbox[-1].to == [SIGNUP["email"]]
    token = link_token("/signup/confirm/")
    page = Client().get(f"/signup/confirm/{token}/")
    assert page.status_code == 200 and b"E-mail confirmed" in page.content
    assert _organization("sunrise-clinic").email_confirmed
    again = Client().post("/api/v1/signup/confirm/", {"token": token})  # reused: still confirmed
    assert again.status_code == 200 and again.json()["email_confirmed"] is True
    with tenant_context(organization):
        with pytest.raises(Refused) as later:
            send_message(customer, {"type": "text", "text": {"body": "hello"}})
    assert later.value.code != "sending_blocked"  # now only the usual checks stand in the way


def test_forged_and_expired_confirmation_links_are_refused(db: None, settings) -> None:
    assert sign_up().status_code == 201
    token = link_token("/signup/confirm/")
    forged = Client().post("/api/v1/signup/confirm/", {"token": token[:-2] + "xx"})
    assert forged.status_code == 400 and "token" in forged.json()
    settings.EMAIL_CONFIRM_DAYS = 0
    expired = Client().get(f"/signup/confirm/{token}/")
    assert expired.status_code == 400 and b"expired" in expired.content
    assert not _organization("sunrise-clinic").email_confirmed


def test_a_username_of_another_organization_signs_up_and_both_still_sign_in(
    org_b: Organization,
) -> None:
    ravi_of_b = make_staff(org_b, Role.AGENT, "ravi")
    answer = sign_up(username="ravi", organization_name="Org B")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["organization"]["code"] == "org-b-2"  # derived, made unique
    mine = token_for("ravi")
    assert mine.status_code == 201 and mine.json()["user"] == answer.json()["user"]
    assert token_for("ravi", PASSWORD).json()["user"] == str(ravi_of_b.pk)
    coded = token_for("ravi", organization="org-b-2")
    assert coded.status_code == 201
    me = with_token(coded.json()["token"]).get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["organization"]["code"] == "org-b-2" and me.json()["role"] == "ORG_ADMIN"


def test_sign_up_refuses_weak_passwords_platform_names_and_bad_fields(db: None) -> None:
    make_staff(None, Role.SUPER_ADMIN, "root")
    weak = sign_up(password="meera")
    assert weak.status_code == 400 and list(weak.json()) == ["password"]
    reserved = sign_up(username="Root")
    assert reserved.status_code == 400 and list(reserved.json()) == ["username"]
    bad = sign_up(email="not-an-address")
    assert bad.status_code == 400 and list(bad.json()) == ["email"]
    with unscoped():
        assert not Organization.objects.filter(code__startswith="sunrise").exists()


def test_signup_open_false_turns_sign_up_off(db: None, settings) -> None:
    settings.SIGNUP_OPEN = False
    assert sign_up().status_code == 403
    assert Client().get("/signup/").status_code == 403


def test_the_page_signs_up_signs_in_and_the_checklist_ticks_itself_off(db: None) -> None:
    browser = Client()
    assert browser.get("/signup/").status_code == 200
    with mailed():
        answer = browser.post("/signup/", SIGNUP)
    assert answer.status_code == 302 and answer["Location"] == "/onboarding/"
    page = browser.get("/onboarding/")
    assert page.status_code == 200
    assert [step.done for step in page.context["steps"]] == [False, False, False, False]
    browser.get(f"/signup/confirm/{link_token('/signup/confirm/')}/")
    invited = browser.post("/team/", {"email": "asha@sunrise.example", "role": "AGENT"})
    assert invited.status_code == 302
    steps = browser.get("/onboarding/").context["steps"]
    assert [step.done for step in steps] == [True, False, True, False]
    assert STRONG not in browser.get("/onboarding/").content.decode()

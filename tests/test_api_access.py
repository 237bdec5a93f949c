"""API access: tokens, roles, platform staff's organization header, secrets, the shared catalog."""
from __future__ import annotations

import bcrypt
import pytest
from rest_framework.test import APIClient

from crm.models import Customer, Organization, Role, User, WhatsAppNumber
from tenancy.context import tenant_context, unscoped
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    ProductFactory,
    WhatsAppNumberFactory,
    WhatsAppApiLogFactory,
)
from tests.test_api import client_for, staff

# Twice: with the Python scope, and with PostgreSQL's row-level security alone.
pytestmark = pytest.mark.usefixtures("python_scope")


@pytest.fixture
def agent_a(org_a: Organization) -> User:
    return staff(org_a, Role.AGENT)


@pytest.fixture
def platform() -> User:
    return staff(None, Role.SUPER_ADMIN)


def test_token_from_a_legacy_password(org_a: Organization) -> None:
    legacy = bcrypt.hashpw(b"old-secret", bcrypt.gensalt(4)).decode()
    with tenant_context(org_a):
        user = User.objects.create(username="asha", password=f"bcrypt${legacy}", first_name="A",
                                   legacy_role=User.LegacyRole.ADMIN,
                                   last_name="S", phone_number="1", email="a@example.com")
        CustomerFactory()
    response = APIClient().post("/api/v1/auth/token",
                                {"username": "asha", "password": "old-secret"}, format="json")
    assert response.status_code == 201
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/customers/").json()["count"] == 1
    assert response.json()["user"] == str(user.pk)


def test_a_shared_username_gets_its_token_by_password_or_organization_code(org_a, org_b) -> None:
    for org in (org_a, org_b):
        with tenant_context(org):
            user = User(username="ravi", first_name="R", last_name="K", phone_number="1",
                        email="r@example.com")
            user.set_password("pw-of-" + org.code)
            user.save()
    anonymous = APIClient()
    for code in ("org-a", "org-b"):
        credentials = {"username": "ravi", "password": f"pw-of-{code}"}
        for given in ({}, {"organization": code}):
            response = anonymous.post("/api/v1/auth/token/", {**credentials, **given},
                                      format="json")
            assert response.status_code == 201
            with unscoped():
                assert User.objects.get(pk=response.json()["user"]).organization.code == code
    credentials = {"username": "ravi", "password": "pw-of-org-a", "organization": "org-b"}
    assert anonymous.post("/api/v1/auth/token/", credentials, format="json").status_code == 401


def test_bad_credentials_and_tokens_are_refused(org_a) -> None:
    wrong = APIClient().post("/api/v1/auth/token/", {"username": "x", "password": "y"},
                             format="json")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.json()["detail"]
    assert APIClient().post("/api/v1/auth/token/", {}, format="json").status_code == 400
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/v1/customers/").status_code == 401
    assert APIClient().get("/api/v1/customers/").status_code == 401


def test_session_users_run_as_their_organization(client, org_a, org_b) -> None:
    user = staff(org_a)
    with tenant_context(org_b):
        CustomerFactory()
    client.force_login(user)
    assert client.get("/api/v1/customers/").json()["count"] == 0


def test_an_agent_works_conversations_and_reads_the_rest(agent_a, org_a) -> None:
    api = client_for(agent_a)
    with tenant_context(org_a):
        customer = CustomerFactory()
        campaign = CampaignFactory()
    created = api.post("/api/v1/messages/", {"customer": str(customer.pk), "body": "hi"},
                       format="json")
    assert created.status_code == 201
    assert api.patch(f"/api/v1/customers/{customer.pk}/", {"name": "N"},
                     format="json").status_code == 200
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 200
    assert api.patch(f"/api/v1/campaigns/{campaign.pk}/", {"name": "N"},
                     format="json").status_code == 403
    assert api.post("/api/v1/users/", {"username": "new"}, format="json").status_code == 403
    assert api.get("/api/v1/users/").status_code == 200


def test_an_org_admin_manages_its_users_but_never_grants_super_admin(org_a) -> None:
    api = client_for(staff(org_a))
    with unscoped():  # roles are platform data
        agent = Role.objects.get_or_create(name=Role.AGENT, defaults={"display_name": "A"})[0]
        sa = Role.objects.get_or_create(name=Role.SUPER_ADMIN, defaults={"display_name": "S"})[0]
    user = {"username": "newbie", "password": "long-enough-pw", "first_name": "N",
            "last_name": "B", "phone_number": "1", "email": "n@example.com"}
    response = api.post("/api/v1/users/", {**user, "role": str(agent.pk)}, format="json")
    assert response.status_code == 201 and "password" not in response.json()
    with tenant_context(org_a):
        assert User.objects.get(username="newbie").check_password("long-enough-pw")
    refused = api.post("/api/v1/users/", {**user, "username": "boss", "role": str(sa.pk)},
                       format="json")
    assert refused.status_code == 400 and "role" in refused.json()


def test_platform_staff_choose_an_organization_per_request(platform, org_a, org_b) -> None:
    api = client_for(platform)
    with tenant_context(org_b):
        CustomerFactory()
    missing = api.get("/api/v1/customers/")
    assert missing.status_code == 400 and "X-Organization-ID" in missing.json()["detail"]
    assert api.get("/api/v1/customers/", HTTP_X_ORGANIZATION_ID="org-b").json()["count"] == 1
    assert api.get("/api/v1/customers/",
                   HTTP_X_ORGANIZATION_ID=str(org_a.pk)).json()["count"] == 0
    assert api.get("/api/v1/customers/", HTTP_X_ORGANIZATION_ID="nope").status_code == 404


def test_naming_another_organization_is_403(org_a, org_b) -> None:
    api = client_for(staff(org_a))
    assert api.get("/api/v1/customers/", HTTP_X_ORGANIZATION_ID="org-b").status_code == 403
    assert api.get("/api/v1/customers/", HTTP_X_ORGANIZATION_ID="org-a").status_code == 200


def test_staff_of_an_inactive_organization_are_refused(org_a) -> None:
    api = client_for(staff(org_a))
    with unscoped():
        Organization.objects.filter(pk=org_a.pk).update(is_active=False)
    response = api.get("/api/v1/customers/")
    assert response.status_code == 403 and "inactive" in response.json()["detail"]
    session = APIClient()
    session.force_login(staff(org_a))
    assert session.get("/api/v1/customers/").status_code in (401, 403)  # signed out: no user


def test_secrets_are_write_only(org_a) -> None:
    api = client_for(staff(org_a))
    response = api.post("/api/v1/whatsapp-numbers/", {"phone_number_id": "1055",
                        "display_number": "+91 98000", "access_token": "EAAG-secret"},
                        format="json")
    assert response.status_code == 201
    assert "EAAG-secret" not in response.content.decode()
    listing = api.get("/api/v1/whatsapp-numbers/").content.decode()
    assert "access_token" not in listing and "EAAG-secret" not in listing
    with tenant_context(org_a):
        assert WhatsAppNumber.objects.get(phone_number_id="1055").access_token == "EAAG-secret"
        WhatsAppApiLogFactory(request_headers={"Authorization": "Bearer EAAG-secret", "X": "1"})
    logs = api.get("/api/v1/whatsapp-api-logs/").json()["results"]
    assert logs[0]["request_headers"] == {"Authorization": "***", "X": "1"}


def test_the_shared_catalog_is_read_only_for_organizations(org_a, platform) -> None:
    with unscoped():
        product = ProductFactory()
    api = client_for(staff(org_a))
    assert api.get("/api/v1/products/").json()["count"] == 1
    assert api.patch(f"/api/v1/products/{product.pk}/", {"name": "x"},
                     format="json").status_code == 403
    as_platform = client_for(platform)
    assert as_platform.patch(f"/api/v1/products/{product.pk}/", {"name": "x"},
                             format="json").status_code == 200


def test_shared_templates_are_read_only_for_organizations(org_a) -> None:
    with unscoped():  # a shared template, written by platform code
        from tests.factories import TemplateFactory

        shared = TemplateFactory()
    api = client_for(staff(org_a))
    assert api.get(f"/api/v1/templates/{shared.pk}/").status_code == 200
    assert api.patch(f"/api/v1/templates/{shared.pk}/", {"template_vars": []},
                     format="json").status_code == 403


def test_schema_and_docs(org_a) -> None:
    api = client_for(staff(org_a))
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/customers/" in schema.content
    assert api.get("/api/v1/docs/").status_code == 200


def test_a_duplicate_is_a_conflict_not_a_500(org_a) -> None:
    api = client_for(staff(org_a))
    body = {"wa_id": "919812345678", "customer_status": "open"}
    assert api.post("/api/v1/customers/", body, format="json").status_code == 201
    response = api.post("/api/v1/customers/", body, format="json")
    assert response.status_code == 409 and response.json()["fields"] == ["wa_id"]
    assert "wa_id" in response.json()["detail"] and "919812345678" not in response.content.decode()
    with tenant_context(org_a):
        assert Customer.objects.filter(wa_id="919812345678").count() == 1


def test_a_number_another_organization_holds_is_accepted_unverified(org_a, org_b) -> None:
    """A 409 told A that B holds the number (issue 15, item 9): now only proof with Meta decides,
    and only A's own rows clash."""
    with tenant_context(org_b):
        WhatsAppNumberFactory(phone_number_id="106540352242922")
    api = client_for(staff(org_a))
    response = api.post(
        "/api/v1/whatsapp-numbers/", {"phone_number_id": "106540352242922"}, format="json")
    assert response.status_code == 201 and response.json()["verification_status"] == "pending"
    again = api.post(
        "/api/v1/whatsapp-numbers/", {"phone_number_id": "106540352242922"}, format="json")
    assert again.status_code == 409 and again.json()["fields"] == ["phone_number_id"]

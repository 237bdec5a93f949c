"""Integration credentials: encrypted at rest, per organization, masked in every answer, never
logged; the API and the admin manage them, `test/` asks the provider (the fake)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from bench.fake_razorpay import FakeRazorpay
from crm.integrations import credentials
from crm.integrations.errors import UnreadableSecrets
from crm.models import IntegrationCredential, Organization, Role
from tenancy.context import tenant_context, unscoped
from tests.factories import IntegrationCredentialFactory
from tests.test_admin_support import admin_url, make_staff, signed_in
from tests.test_api import client_for, staff

KEY_SECRET = "sk-very-secret-key-value-41"
WEBHOOK_SECRET = "whsec-very-secret-webhook-42"
RAZORPAY = {"key_id": "rzp_test_a", "key_secret": KEY_SECRET, "webhook_secret": WEBHOOK_SECRET}
URL = "/api/v1/integrations/razorpay/"


@pytest.fixture
def api_a(org_a: Organization) -> Any:
    return client_for(staff(org_a))


def test_secrets_are_encrypted_and_keys_rotate(settings: Any, in_a: Organization) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old]
    credentials.save("razorpay", RAZORPAY)
    row = IntegrationCredential.objects.get()
    assert KEY_SECRET not in row.secrets and "rzp_test_a" == row.config["key_id"]
    settings.FIELD_ENCRYPTION_KEY = [new, old]  # a new first key: the old one still reads
    assert credentials.require("razorpay").secret("key_secret") == KEY_SECRET
    call_command("rotate_integration_keys", stdout=open(os.devnull, "w"))
    settings.FIELD_ENCRYPTION_KEY = [new]  # the old key is gone: the rotated row still reads
    assert credentials.require("razorpay").secret("webhook_secret") == WEBHOOK_SECRET
    settings.FIELD_ENCRYPTION_KEY = [old]
    with pytest.raises(UnreadableSecrets, match="FIELD_ENCRYPTION_KEY"):
        credentials.require("razorpay").secret("key_secret")
    assert KEY_SECRET not in repr(credentials.load("razorpay"))


def test_without_a_key_and_debug_off_the_app_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "PYTEST_")) and k != "FIELD_ENCRYPTION_KEY"}
    env.update(DJANGO_SETTINGS_MODULE="crm.settings", DEBUG="false", SECRET_KEY="x" * 50)
    result = subprocess.run([sys.executable, "-c", "import crm.settings"], env=env,
                            cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set and DEBUG is off" in result.stderr


def test_put_get_test_delete_never_answer_or_log_a_secret(
    api_a: Any, org_a: Organization, fake_razorpay: FakeRazorpay, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_razorpay.add_account("rzp_test_a", KEY_SECRET)
    answers = [api_a.put(URL, RAZORPAY, format="json")]
    assert answers[0].status_code == 200
    assert answers[0].json()["secrets"] == {"key_secret": "********",
                                            "webhook_secret": "********"}
    answers.append(api_a.get(URL))
    assert answers[-1].json()["config"] == {"key_id": "rzp_test_a"}
    answers.append(api_a.post(URL + "test/"))
    assert answers[-1].json()["status"] == "ok"
    # A secret left out keeps the stored one; a wrong key id breaks the test, saying why.
    answers.append(api_a.put(URL, {"key_id": "rzp_test_wrong"}, format="json"))
    assert answers[-1].status_code == 200
    answers.append(api_a.post(URL + "test/"))
    assert answers[-1].json()["status"] == "broken"
    assert "key id and key secret" in answers[-1].json()["status_reason"]
    with tenant_context(org_a):
        assert credentials.require("razorpay").secret("key_secret") == KEY_SECRET
    answers.append(api_a.delete(URL))
    assert answers[-1].status_code == 204
    answers.append(api_a.get(URL))
    assert answers[-1].status_code == 404
    assert "PUT /api/v1/integrations/razorpay/" in answers[-1].json()["detail"]
    answers.append(api_a.post(URL + "test/"))
    assert answers[-1].status_code == 400
    seen = caplog.text + "".join(answer.content.decode() for answer in answers)
    assert "razorpay GET /payment_links" in caplog.text  # the calls are logged...
    for secret in (KEY_SECRET, WEBHOOK_SECRET):  # ...without their secrets
        assert secret not in seen


@pytest.mark.parametrize(("body", "field"), [
    ({"key_id": "rzp_test_a", "key_secret": "x"}, "webhook_secret"),
    ({**RAZORPAY, "key_id": 5}, "key_id"),
    ({**RAZORPAY, "key_id": "a\x00b"}, "key_id"),
    ({**RAZORPAY, "surprise": "x"}, "surprise"),
])
def test_bad_fields_are_400_naming_them(api_a: Any, body: dict, field: str) -> None:
    answer = api_a.put(URL, body, format="json")
    assert answer.status_code == 400
    assert field in json.dumps(answer.json())


def test_only_an_org_admin_manages_them_and_providers_are_known(
    org_a: Organization, api_a: Any
) -> None:
    agent = client_for(staff(org_a, Role.AGENT))
    assert agent.get(URL).status_code == 403
    assert agent.put(URL, RAZORPAY, format="json").status_code == 403
    assert api_a.get("/api/v1/integrations/paypal/").status_code == 404


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_credentials_are_out_of_reach(
    org_a: Organization, org_b: Organization, api_a: Any
) -> None:
    with tenant_context(org_b):
        theirs = IntegrationCredentialFactory()
    with tenant_context(org_a):
        assert credentials.load("razorpay") is None
        assert not IntegrationCredential.objects.filter(pk=theirs.pk).exists()
    assert api_a.get(URL).status_code == 404
    assert api_a.delete(URL).status_code == 404
    assert api_a.put(URL, RAZORPAY, format="json").status_code == 200
    with unscoped():
        assert IntegrationCredential.objects.get(pk=theirs.pk).config == theirs.config
        assert IntegrationCredential.objects.count() == 2


def test_the_admin_takes_secrets_write_only(org_a: Organization) -> None:
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = client.post(admin_url(IntegrationCredential, "add"), {
        "provider": "razorpay", "config": json.dumps({"key_id": "rzp_test_a"}),
        "new_secrets": json.dumps({"key_secret": KEY_SECRET, "webhook_secret": WEBHOOK_SECRET}),
    })
    assert answer.status_code == 302, answer.content.decode()[:2000]
    with tenant_context(org_a):
        row = IntegrationCredential.objects.get()
        assert credentials.require("razorpay").secret("webhook_secret") == WEBHOOK_SECRET
    page = client.get(admin_url(IntegrationCredential, "change", row)).content.decode()
    assert "rzp_test_a" in page and KEY_SECRET not in page and row.secrets not in page
    # Changing the plain fields keeps the secrets; a missing one is a form error.
    client.post(admin_url(IntegrationCredential, "change", row),
                {"config": json.dumps({"key_id": "rzp_test_b"}), "new_secrets": ""})
    with tenant_context(org_a):
        assert credentials.require("razorpay").config == {"key_id": "rzp_test_b"}
        assert credentials.require("razorpay").secret("key_secret") == KEY_SECRET
    answer = client.post(admin_url(IntegrationCredential, "add"), {
        "provider": "razorpay", "config": "{}", "new_secrets": ""})
    assert answer.status_code == 200 and "this field is required" in answer.content.decode()

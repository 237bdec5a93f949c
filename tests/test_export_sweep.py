"""Beat deletes the zips of organization exports whose link expired and marks them expired, each
organization inside its own context, in batches, idempotently; an expired link answers 410 Gone
(a forged one, or another organization's, stays 404)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from crm.celery import app
from crm.lifecycle import exports, tasks
from crm.models import Organization, OrganizationExport, Role
from tenancy.context import tenant_context, unscoped
from tests.factories import OrganizationExportFactory
from tests.test_admin_support import make_staff
from tests.test_api import client_for


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


def _export(org: Organization, hours_left: float) -> OrganizationExport:
    """A finished export of `org` with its zip stored, expiring in `hours_left` hours."""
    name = default_storage.save(f"organization-exports/{org.pk}/x.zip", ContentFile(b"PK zip"))
    now = timezone.now()
    with tenant_context(org):
        return OrganizationExportFactory(file_name=name, finished_at=now,
                                         expires_at=now + timedelta(hours=hours_left))


def _state(export: OrganizationExport) -> str:
    with unscoped():  # the test reads both organizations' rows to check them
        return OrganizationExport.objects.get(pk=export.pk).state


@pytest.mark.usefixtures("python_scope")
def test_beat_deletes_expired_zips_of_every_organization_once(
        org_a: Organization, org_b: Organization) -> None:
    old_a, old_b, fresh_a = _export(org_a, -1), _export(org_b, -25), _export(org_a, 3)
    assert tasks.sweep_expired_exports() == 2
    for export in (old_a, old_b):
        assert _state(export) == "expired" and not default_storage.exists(export.file_name)
    assert _state(fresh_a) == "done" and default_storage.exists(fresh_a.file_name)
    assert tasks.sweep_expired_exports() == 0  # idempotent: nothing left to expire
    assert _state(old_a) == "expired"


@pytest.mark.usefixtures("python_scope")
def test_the_sweep_goes_in_batches_and_survives_a_missing_file(
        org_a: Organization, org_b: Organization) -> None:
    made = [_export(org, -1) for org in (org_a, org_b, org_a, org_b, org_a)]
    default_storage.delete(made[0].file_name)  # already gone: still marked expired
    assert exports.sweep_expired(timezone.now(), batch=2) == 5
    assert {_state(export) for export in made} == {"expired"}


@pytest.mark.usefixtures("python_scope")
def test_an_expired_link_answers_410_and_another_organizations_404(
        org_a: Organization, org_b: Organization) -> None:
    admin = client_for(make_staff(org_a, Role.ORG_ADMIN))
    export = _export(org_a, 2)
    url = (f"/api/v1/organization/exports/{export.pk}/download/"
           f"?token={exports.download_token(export)}")
    assert admin.get(url).status_code == 200
    with tenant_context(org_a):  # the 24 hours are over; beat has not run yet
        OrganizationExport.objects.filter(pk=export.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1))
    gone = admin.get(url)
    assert gone.status_code == 410 and "request a new export" in gone.json()["detail"]
    tasks.sweep_expired_exports()
    assert admin.get(url).status_code == 410
    progress = admin.get(f"/api/v1/organization/exports/{export.pk}/").json()
    assert progress["state"] == "expired" and progress["download_url"] is None
    assert client_for(make_staff(org_b, Role.ORG_ADMIN)).get(url).status_code == 404
    assert admin.get(url.replace("token=", "token=x")).status_code == 404


def test_the_sweep_is_registered_in_beat(db: None) -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["sweep-expired-exports"]
    assert entry["task"] == "crm.lifecycle.tasks.sweep_expired_exports"
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks

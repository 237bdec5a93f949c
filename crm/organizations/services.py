"""Writes of the organization's settings: the settings themselves and its logo, each audited.

A logo is stored under organization-logos/<organization id>/ with a random name the server
chooses (never the uploaded one); the file it replaces is deleted once the change committed.
"""
from __future__ import annotations

import secrets
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from crm import audit
from crm.models import Organization
from crm.organizations import logos
from crm.organizations.errors import InvalidLogo
from tenancy.context import get_current_organization_id

FOLDER = "organization-logos"


def logo_name(organization_id: Any, file_name: str) -> str:
    """The storage name of the file `file_name` of the organization's logos."""
    return f"{FOLDER}/{organization_id}/{file_name}"


def save_settings(form: Any, *, by: Any) -> Organization:
    """Save the settings form of the active organization; the changed fields are audited."""
    with transaction.atomic():
        organization = form.save(commit=False)
        organization.updated_at = timezone.now()
        organization.save()
        if form.changed_data:
            audit.record(audit.SETTINGS_CHANGED, actor=by, fields=", ".join(form.changed_data))
    return organization


def set_logo(upload: Any, *, by: Any) -> Organization:
    """Check `upload` (an uploaded file) and make it the active organization's logo."""
    if upload is None:
        raise InvalidLogo("Choose a PNG, JPEG or WebP file of at most 1 MB.")
    if upload.size is None or upload.size > logos.MAX_BYTES:
        raise InvalidLogo(f"The logo is larger than {logos.MAX_BYTES // 1024} KB: make it "
                          "smaller.")
    data = upload.read(logos.MAX_BYTES + 1)
    logo = logos.inspect(data)
    organization_id = get_current_organization_id()
    name = default_storage.save(
        logo_name(organization_id, f"{secrets.token_hex(16)}.{logo.extension}"),
        ContentFile(data))
    try:
        with transaction.atomic():
            organization = Organization.objects.select_for_update().get(pk=organization_id)
            old = organization.logo
            organization.logo, organization.updated_at = name, timezone.now()
            organization.save(update_fields=["logo", "updated_at"])
            audit.record(audit.LOGO_CHANGED, actor=by, type=logo.content_type,
                         width=logo.width, height=logo.height)
            if old:
                transaction.on_commit(lambda: default_storage.delete(old))
    except BaseException:
        default_storage.delete(name)  # nothing points at it
        raise
    return organization


def remove_logo(*, by: Any) -> Organization:
    """The active organization goes without a logo; its file is deleted after the commit."""
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(
            pk=get_current_organization_id())
        old = organization.logo
        if old:
            organization.logo, organization.updated_at = None, timezone.now()
            organization.save(update_fields=["logo", "updated_at"])
            audit.record(audit.LOGO_REMOVED, actor=by)
            transaction.on_commit(lambda: default_storage.delete(old))
    return organization


def logo_file(organization_id: Any, file_name: str) -> tuple[str, str] | None:
    """(storage name, content type) of `file_name` if it is the organization's logo now."""
    name = logo_name(organization_id, file_name)
    current = Organization.objects.filter(pk=organization_id).values_list(
        "logo", flat=True).first()
    if not current or current != name:
        return None
    return name, logos.CONTENT_TYPES[name.rsplit(".", 1)[-1]]

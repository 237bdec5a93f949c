"""A zip of every row and media file of an organization, written by a Celery job.

Each tenant table (crm.lifecycle.tables, so new tables join by themselves) becomes
`tables/<table>.jsonl`, one JSON object per row, read from a server-side cursor in chunks; the
organization's media files are copied under `media/`. The zip is written to a temporary file and
copied to the default storage in chunks: neither the rows nor the zip are ever held in memory.
Secret columns (password hashes, tokens, encrypted credentials) are left out. Beat deletes the
zips whose link expired (`sweep_expired`).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from datetime import datetime, timedelta
from itertools import groupby
from typing import IO, Any

from django.core import signing
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from crm import audit
from crm.admin.base import secret_fields
from crm.lifecycle.errors import ExportRunning, LinkExpired, LinkRefused
from crm.lifecycle.tables import columns, key_order, media_files, of_organization
from crm.models import OrganizationExport
from tenancy.context import get_current_organization_id, tenant_context, unscoped

EXPORTED = "organization.exported"
LIFETIME = timedelta(hours=24)
CHUNK_ROWS = 2000
SWEEP_BATCH = 200
SALT = "crm.lifecycle.export"
# Its own bookkeeping: the row of the export being written changes while it is written.
LEFT_OUT = (OrganizationExport,)


def exported_models() -> list[type[models.Model]]:
    """The tenant models an export holds, parents first."""
    return [m for m in key_order()[0] if m not in LEFT_OUT]


def exported_columns(model: type[models.Model]) -> list[str]:
    """The columns of `model` an export holds: all but the secret ones."""
    secret = secret_fields(model)
    return [name for name in columns(model) if name not in secret]


def request_export(user: Any) -> OrganizationExport:
    """Queue an export of the active organization (one at a time); the job starts on commit."""
    from crm.lifecycle.tasks import run_export_job

    unfinished = (OrganizationExport.State.QUEUED, OrganizationExport.State.RUNNING)
    if OrganizationExport.objects.filter(state__in=unfinished).exists():
        raise ExportRunning()
    export = OrganizationExport.objects.create(requested_by_id=getattr(user, "pk", None))
    audit.record(EXPORTED, actor=user, export=str(export.pk))
    export_id, organization_id = str(export.pk), get_current_organization_id()
    transaction.on_commit(lambda: _queue(run_export_job, export_id, organization_id))
    return export


def _queue(task: Any, export_id: str, organization_id: Any) -> None:
    """Queue the job as the export's organization, whenever the commit runs this."""
    with tenant_context(organization_id):
        task.delay(export_id)


def run_export(export: OrganizationExport) -> None:
    """Write the zip and store it; the export ends done (with its size) or failed (why)."""
    OrganizationExport.objects.filter(pk=export.pk).update(state=OrganizationExport.State.RUNNING)
    organization_id = get_current_organization_id()
    name = f"organization-exports/{organization_id}/{export.pk}.zip"
    try:
        with tempfile.TemporaryFile() as file:
            write_zip(file, organization_id)
            size = file.tell()
            file.seek(0)
            stored = default_storage.save(name, File(file, name=name))
    except Exception as error:  # the job must record any failure, then let Celery see it too
        OrganizationExport.objects.filter(pk=export.pk).update(
            state=OrganizationExport.State.FAILED, finished_at=timezone.now(),
            error=f"The export could not be written ({type(error).__name__}): try again.")
        raise
    now = timezone.now()
    OrganizationExport.objects.filter(pk=export.pk).update(
        state=OrganizationExport.State.DONE, file_name=stored, size=size, finished_at=now,
        expires_at=now + LIFETIME, error=None)


def write_zip(file: IO[bytes], organization_id: Any) -> None:
    """Every exported table as JSON lines, then every media file, into `file`."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for model in exported_models():
            table = model._meta.db_table
            counts[table] = _write_table(archive, f"tables/{table}.jsonl", model, organization_id)
        media = 0
        for stored in media_files(organization_id):
            if stored.startswith("organization-exports/"):
                continue  # earlier exports are not the organization's data
            with default_storage.open(stored, "rb") as source, \
                    archive.open(f"media/{stored.rsplit('/', 1)[-1]}", "w") as target:
                shutil.copyfileobj(source, target, 64 * 1024)
            media += 1
        archive.writestr("manifest.json", json.dumps(
            {"organization_id": str(organization_id), "rows": counts, "media_files": media,
             "written_at": timezone.now().isoformat()}, indent=2))
    file.seek(0, 2)


def _write_table(archive: zipfile.ZipFile, name: str, model: type[models.Model],
                 organization_id: Any) -> int:
    fields = exported_columns(model)
    rows = of_organization(model, organization_id).order_by(*_order(model)).values(*fields)
    count = 0
    with archive.open(name, "w") as entry:
        for row in rows.iterator(chunk_size=CHUNK_ROWS):
            entry.write(json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False).encode())
            entry.write(b"\n")
            count += 1
    return count


def _order(model: type[models.Model]) -> list[str]:
    pk = model._meta.pk
    if isinstance(pk, models.CompositePrimaryKey):
        return [f.attname for f in pk.fields]
    return [pk.attname]


def download_token(export: OrganizationExport) -> str:
    """The signed part of the download link: this export, this organization, 24 hours."""
    return signing.dumps({"export": str(export.pk), "organization": str(export.organization_id)},
                         salt=SALT)


def checked_download(export_id: Any, token: str) -> OrganizationExport:
    """The active organization's finished, unexpired export the token was made for.

    LinkRefused (404) for a forged token or one of another export or organization; LinkExpired
    (410) for a genuine link of this organization's export once its 24 hours are over.
    """
    try:
        payload, expired = signing.loads(token, salt=SALT, max_age=LIFETIME), False
    except signing.SignatureExpired:  # genuine, only too old: read it to answer 410, not 404
        payload, expired = signing.loads(token, salt=SALT), True
    except signing.BadSignature:
        raise LinkRefused() from None
    organization_id = get_current_organization_id()
    if not isinstance(payload, dict) or payload.get("export") != str(export_id) or payload.get(
            "organization") != str(organization_id):
        raise LinkRefused()
    export = OrganizationExport.objects.filter(pk=export_id,
                                               organization_id=organization_id).first()
    if export is None or export.state not in (OrganizationExport.State.DONE,
                                              OrganizationExport.State.EXPIRED):
        raise LinkRefused()
    if expired or export.state == OrganizationExport.State.EXPIRED or (
            export.expires_at is None or export.expires_at <= timezone.now()):
        raise LinkExpired()
    return export


def expired_exports(now: datetime, batch: int = SWEEP_BATCH) -> list[tuple[Any, Any]]:
    """(organization id, export id) of done exports whose link expired by `now`, by organization."""
    # Beat serves every organization: it only lists keys here; each export is then expired
    # inside its own organization.
    with unscoped():
        return list(OrganizationExport.objects.filter(
            state=OrganizationExport.State.DONE, expires_at__lte=now)
            .order_by("organization_id", "expires_at", "pk")
            .values_list("organization_id", "pk")[:batch])


def expire(export_id: Any, now: datetime) -> bool:
    """Delete the zip of the current organization's expired export and mark it expired;
    whether it was still to expire (a second run changes nothing)."""
    with transaction.atomic():
        export = OrganizationExport.objects.select_for_update().filter(
            pk=export_id, state=OrganizationExport.State.DONE, expires_at__lte=now).first()
        if export is None:
            return False
        if export.file_name:
            default_storage.delete(export.file_name)  # a missing file is no error
        OrganizationExport.objects.filter(pk=export.pk).update(
            state=OrganizationExport.State.EXPIRED)
    return True


def sweep_expired(now: datetime, batch: int = SWEEP_BATCH) -> int:
    """Beat: expire every organization's exports past their link's lifetime, a batch at a
    time, each organization inside its own context; how many were expired."""
    swept = 0
    while True:
        due = expired_exports(now, batch)
        done = 0
        for organization_id, rows in groupby(due, key=lambda row: row[0]):
            with tenant_context(organization_id):
                done += sum(expire(export_id, now) for _, export_id in rows)
        swept += done
        if len(due) < batch or not done:
            return swept

"""The contacts page at /contacts/: upload a file to import and watch its progress (htmx polls
the progress partial while the job runs), and download exports. Thin over crm.imports."""
from __future__ import annotations

import json
import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from crm.imports import reading, services
from crm.imports.errors import ImportRefused
from crm.inbox.access import inbox_view
from crm.models import ContactImport
from crm.roles import can_write

RECENT = 10


def _may_import(request: HttpRequest) -> bool:
    return can_write(request.user, ContactImport)


def _refused(request: HttpRequest, field: str, message: str) -> HttpResponse:
    return render(request, "contacts/_refused.html", {"field": field, "message": message},
                  status=400)


@require_GET
@inbox_view
def index(request: HttpRequest) -> HttpResponse:
    """The upload form, the latest imports, and the export links."""
    imports = ContactImport.objects.defer("data")[:RECENT]
    return render(request, "contacts/index.html", {
        "organization": request.inbox_organization, "imports": imports,
        "may_import": _may_import(request)})


@require_POST
@inbox_view
def upload(request: HttpRequest) -> HttpResponse:
    """Start an import of the uploaded file; answers its progress partial (or the refusal)."""
    if not _may_import(request):
        return HttpResponse("Only an ORG_ADMIN imports contacts.", status=403)
    file = request.FILES.get("file")
    if file is None:
        return _refused(request, "file", "Choose a CSV or XLSX file.")
    mapping: dict[str, Any] = {field: request.POST[field].strip()
                               for field in ("phone", "name", "labels")
                               if request.POST.get(field, "").strip()}
    try:
        attributes = json.loads(request.POST.get("attributes") or "{}")
    except ValueError:
        return _refused(request, "attributes", 'Give attributes as JSON, such as {"city": '
                                               '"City"}.')
    if attributes:
        mapping["attributes"] = attributes
    try:
        reading.check_size(file.size)
        contact_import = services.start_import(file.name or "contacts", file.read(), mapping)
    except ImportRefused as error:
        return _refused(request, error.field, str(error))
    return render(request, "contacts/_progress.html", {"item": contact_import})


@require_GET
@inbox_view
def progress(request: HttpRequest, import_id: uuid.UUID) -> HttpResponse:
    """One import's progress partial (polled by htmx until it is done or failed)."""
    contact_import = ContactImport.objects.defer("data").filter(pk=import_id).first()
    if contact_import is None:
        raise Http404("No such import.")
    return render(request, "contacts/_progress.html", {"item": contact_import})

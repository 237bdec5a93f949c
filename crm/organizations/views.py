"""The settings page at /settings/ (the ORG_ADMIN's, or platform staff acting as the
organization) and the logo, served to signed-in members of its organization only.

Thin: each view parses a form, calls one service of crm.organizations.services, and renders; a
refusal is shown on the form it concerns, answered 400 (htmx swaps it in all the same).
"""
from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.inbox.access import inbox_view
from crm.models import Organization
from crm.organizations import services
from crm.organizations.errors import SettingsError
from crm.organizations.forms import LogoForm, OrganizationSettingsForm
from crm.roles import is_platform_staff, may_edit_own_organization

REFUSED = "Only an ORG_ADMIN changes the organization's settings: ask yours."


def _may_change(request: HttpRequest) -> bool:
    return may_edit_own_organization(request.user) or is_platform_staff(request.user)


def _organization(request: HttpRequest) -> Organization:
    return Organization.objects.get(pk=request.inbox_organization.pk)


def _refused(request: HttpRequest) -> HttpResponse:
    return render(request, "organization/refused.html", {
        "organization": request.inbox_organization, "message": REFUSED}, status=403)


def _page(request: HttpRequest, organization: Organization, form: Any, logo_form: Any,
          saved: bool = False, status: int = 200) -> HttpResponse:
    context = {"organization": organization, "form": form, "logo_form": logo_form,
               "saved": saved}
    if request.htmx:
        template = ("organization/_logo.html" if form is None else
                    "organization/_settings_form.html")
    else:
        template = "organization/settings.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@inbox_view
def settings_page(request: HttpRequest) -> HttpResponse:
    """The organization's settings and logo; POST saves the settings."""
    if not _may_change(request):
        return _refused(request)
    organization = _organization(request)
    form = OrganizationSettingsForm(request.POST or None, instance=organization)
    if request.method == "GET":
        return _page(request, organization, form, LogoForm())
    if not form.is_valid():
        return _page(request, _organization(request), form, LogoForm(), status=400)
    organization = services.save_settings(form, by=request.user)
    if not request.htmx:
        return redirect("organization:settings")
    return _page(request, organization, OrganizationSettingsForm(instance=organization),
                 LogoForm(), saved=True)


@require_POST
@inbox_view
def logo_upload(request: HttpRequest) -> HttpResponse:
    """Make the uploaded file the logo (POST, multipart), or remove the logo (`remove`)."""
    if not _may_change(request):
        return _refused(request)
    form = LogoForm(request.POST, request.FILES)
    try:
        if request.POST.get("remove"):
            services.remove_logo(by=request.user)
        else:
            services.set_logo(request.FILES.get("logo"), by=request.user)
    except SettingsError as error:
        form.errors.clear()
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _page(request, _organization(request),
                     None if request.htmx else OrganizationSettingsForm(
                         instance=_organization(request)), form, status=error.status)
    if not request.htmx:
        return redirect("organization:settings")
    return _page(request, _organization(request), None, LogoForm(), saved=True)


@require_GET
@inbox_view
def logo(request: HttpRequest, file_name: str) -> FileResponse:
    """The organization's current logo; any other name (another organization's) is 404."""
    found = services.logo_file(request.inbox_organization.pk, file_name)
    if found is None:
        raise Http404("No such logo.")
    name, content_type = found
    response = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = f'inline; filename="logo.{name.rsplit(".", 1)[-1]}"'
    # The name changes with every upload: a browser may keep it, a shared cache never.
    response["Cache-Control"] = "private, max-age=86400"
    return response

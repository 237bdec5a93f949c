"""The CRM's admin site: every admin view runs as exactly one organization, or, for platform
staff who asked for it, as every organization.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from crm.admin.forms import OrganizationAuthenticationForm
from crm.admin.groups import group_app_list
from crm.admin.scoping import ALL, SESSION_KEY, AdminScope, chosen_scope, render_in
from crm.models import Organization
from crm.roles import is_platform_staff
from tenancy.context import get_current_organization_id, tenant_context, unscoped

# Views platform staff reach before choosing an organization: they read no tenant table.
NO_ORGANIZATION_VIEWS = frozenset({"logout", "jsi18n", "switch_organization"})
# A platform user's own row belongs to no organization, so changing their password is unscoped.
OWN_ACCOUNT_VIEWS = frozenset({"password_change", "password_change_done"})


class CrmAdminSite(admin.AdminSite):
    """The back office of every organization, and of the platform team."""

    site_header = "WhatsApp CRM"
    site_title = "WhatsApp CRM"
    index_title = "Back office"
    login_form = OrganizationAuthenticationForm
    login_template = "admin/crm/login.html"
    choose_template = "admin/crm/choose_organization.html"

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Callable[..., Any]:
        """Django's checks (signed in, staff, CSRF), then the view in the request's organization."""
        return super().admin_view(self._in_organization(view), cacheable)

    def _in_organization(self, view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def scoped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not is_platform_staff(user):
                # tenancy.middleware activated the user's own organization for the request.
                if user.organization_id is None or (
                    get_current_organization_id() != user.organization_id
                ):
                    raise PermissionDenied
                request.crm_admin_scope = AdminScope(user.organization)
                return view(request, *args, **kwargs)
            name = getattr(request.resolver_match, "url_name", None)
            if name in NO_ORGANIZATION_VIEWS:
                return view(request, *args, **kwargs)
            if name in OWN_ACCOUNT_VIEWS:
                # Their own user row belongs to no organization (see OWN_ACCOUNT_VIEWS).
                return render_in(unscoped(), view, request, *args, **kwargs)
            scope = chosen_scope(request)
            if scope is None:
                return self.choose_organization(request)  # no tenant page runs without a choice
            request.crm_admin_scope = scope
            if scope.all_organizations:
                # Platform staff asked to see every organization: that is their job, and every
                # row they change keeps its organization (TenantModelAdmin.in_row_organization).
                return render_in(unscoped(), view, request, *args, **kwargs)
            return render_in(tenant_context(scope.organization), view, request, *args, **kwargs)

        return scoped

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        """The index and sidebar grouped by work (Conversations, Customers, ...); an app's own
        page (/admin/crm/) keeps Django's list."""
        app_list = super().get_app_list(request, app_label)
        return app_list if app_label else group_app_list(app_list)

    def get_urls(self) -> list[Any]:
        switch = self.admin_view(require_POST(self.switch_organization))
        return [
            path("switch-organization/", switch, name="switch_organization"),
            *super().get_urls(),
        ]

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        user = request.user
        if is_platform_staff(user):
            context["organization_switcher"] = {
                "organizations": list(
                    Organization.objects.filter(is_active=True).only("id", "name", "code")
                ),
                "current": str(request.session.get(SESSION_KEY, "")),
                "all": ALL,
            }
        elif getattr(user, "is_authenticated", False) and user.organization_id:
            context["current_organization"] = user.organization
        return context

    def choose_organization(self, request: HttpRequest) -> HttpResponse:
        """The page platform staff see until they choose an organization (or all of them)."""
        context = {
            **self.each_context(request),
            "title": "Choose an organization",
            "subtitle": None,
            "next": request.get_full_path(),
        }
        request.current_app = self.name
        return TemplateResponse(request, self.choose_template, context)

    def switch_organization(self, request: HttpRequest) -> HttpResponse:
        """POST: platform staff choose the organization the admin shows, or "all"."""
        if not is_platform_staff(request.user):
            raise PermissionDenied
        value = request.POST.get("organization", "")
        if value == ALL:
            request.session[SESSION_KEY] = ALL
        else:
            organization = _active_organization(value)
            if organization is None:
                messages.error(request, "Choose an active organization.")
                return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
            request.session[SESSION_KEY] = str(organization.pk)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index", current_app=self.name)
        return HttpResponseRedirect(target)


def _active_organization(value: str) -> Organization | None:
    try:
        pk = uuid.UUID(value)
    except ValueError:
        return None
    return Organization.objects.filter(pk=pk, is_active=True).first()


site = CrmAdminSite(name="admin")

"""Who reaches the inbox, and as which organization."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm.admin.scoping import chosen_scope
from crm.models import Organization
from crm.roles import is_platform_staff, role_of
from tenancy.context import get_current_organization_id, tenant_context


def inbox_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in staff only, run as one organization.

    Organization staff work in their own (tenancy.middleware activated it); platform staff in
    the organization chosen with the admin's switcher, and are asked to choose one until then.
    The organization is set on `request.inbox_organization`.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if role_of(user) is None:
            return HttpResponse("Your account has no role: ask your administrator.", status=403)
        if not is_platform_staff(user):
            own = user.organization_id
            if own is None or get_current_organization_id() != own:
                return HttpResponse("This account belongs to no organization.", status=403)
            request.inbox_organization = user.organization
            return view(request, *args, **kwargs)
        scope = chosen_scope(request)
        if scope is None or scope.organization is None:
            organizations = Organization.objects.filter(is_active=True).only("id", "name")
            return render(request, "inbox/choose.html", {"organizations": organizations})
        request.inbox_organization = scope.organization
        with tenant_context(scope.organization):
            response = view(request, *args, **kwargs)
            if callable(getattr(response, "render", None)) and not response.is_rendered:
                response.render()
            return response

    return wrapped

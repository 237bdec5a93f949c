"""Which organization an admin request works in: the user's own, or the one platform staff chose.

Organization staff always work in their own organization: `tenancy.middleware` activates it for
the whole request. Platform staff (SUPER_ADMIN, no organization) choose in the admin header; the
choice is kept in the session under `SESSION_KEY` as an organization id, or `ALL`.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from crm.models import Organization
from crm.roles import is_platform_staff

SESSION_KEY = "crm_admin_organization"
ALL = "all"


@dataclass(frozen=True)
class AdminScope:
    """One organization, or every organization (platform staff only)."""

    organization: Organization | None
    all_organizations: bool = False


def chosen_scope(request: HttpRequest) -> AdminScope | None:
    """Platform staff's choice from the session; None when nothing (still valid) is chosen.

    An organization deactivated since it was chosen is no choice: it cannot be used.
    """
    value = request.session.get(SESSION_KEY)
    if value == ALL:
        return AdminScope(None, all_organizations=True)
    try:
        pk = uuid.UUID(str(value))
    except ValueError:
        return None
    organization = Organization.objects.filter(pk=pk, is_active=True).first()
    return AdminScope(organization) if organization is not None else None


def request_scope(request: HttpRequest) -> AdminScope | None:
    """The scope the admin site set on this request (None outside scoped admin views)."""
    return getattr(request, "crm_admin_scope", None)


def all_organizations(request: HttpRequest) -> bool:
    """Whether platform staff work in "all organizations" mode on this request."""
    scope = request_scope(request)
    return bool(scope and scope.all_organizations and is_platform_staff(request.user))


def render_in(
    scope: AbstractContextManager[Any], view: Callable[..., HttpResponse], *args: Any,
    **kwargs: Any,
) -> HttpResponse:
    """Run `view` inside `scope`, rendering a TemplateResponse there too.

    Changelists and forms evaluate their querysets while the template renders, which Django
    normally does after the view returns; outside the scope those queries would run as no
    organization (and fail closed), or as the wrong one.
    """
    with scope:
        response = view(*args, **kwargs)
        if callable(getattr(response, "render", None)) and not response.is_rendered:
            response.render()
    return response

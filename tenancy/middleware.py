"""Run each request as exactly one organization: the user's, or the one platform staff chose."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.apps import apps
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware

from tenancy.context import tenant_context

HEADER = "X-Organization-ID"


class TenantResolutionError(Exception):
    """The request names no usable organization; carries the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def find_organization(value: str) -> Any:
    """The organization whose id or code is `value`; 404 when there is none."""
    model = apps.get_model(settings.TENANCY_ORGANIZATION_MODEL)
    try:
        lookup: dict[str, Any] = {"pk": uuid.UUID(value)}
    except ValueError:
        lookup = {"code": value}
    organization = model._default_manager.filter(**lookup).first()
    if organization is None:
        raise TenantResolutionError(404, f"No organization {value!r}.")
    return organization


def _names(organization: Any, value: str) -> bool:
    """True when `value` is `organization`'s id or code."""
    return value in (str(organization.pk), organization.code)


def resolve_organization(request: HttpRequest) -> Any:
    """The organization this request runs as, or None (anonymous, or platform staff without one).

    Platform staff (SUPER_ADMIN, no organization) choose one per request with the header; anyone
    else runs as their own organization and may only name that one: any other value is 403
    without being looked up, so whether an organization exists is never revealed to them.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    wanted = request.headers.get(HEADER)
    if getattr(user, "is_super_admin", False):
        return find_organization(wanted) if wanted else None
    own = user.organization if user.organization_id else None
    if own is None:
        raise TenantResolutionError(403, "This account belongs to no organization.")
    if wanted and not _names(own, wanted.strip()):
        raise TenantResolutionError(
            403, f"{HEADER} names an organization that is not yours: send your own organization's "
            "id or code, or leave the header out."
        )
    if not own.is_active:
        raise TenantResolutionError(403, "Your organization is inactive.")
    return own


def error_response(request: HttpRequest, error: TenantResolutionError) -> HttpResponse:
    """JSON for API clients, plain text elsewhere."""
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        return JsonResponse({"detail": error.message}, status=error.status)
    return HttpResponse(error.message, status=error.status, content_type="text/plain")


@sync_and_async_middleware
def tenant_middleware(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    """Activate the request's organization around the view; reset it however the view ends."""

    def resolve(request: HttpRequest) -> Any:
        organization = resolve_organization(request)
        request.organization = organization
        return organization

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            try:
                organization = await sync_to_async(resolve)(request)
            except TenantResolutionError as error:
                return error_response(request, error)
            if organization is None:
                return await get_response(request)
            with tenant_context(organization):
                return await get_response(request)

        return middleware

    def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[no-redef]
        try:
            organization = resolve(request)
        except TenantResolutionError as error:
            return error_response(request, error)
        if organization is None:
            return get_response(request)
        with tenant_context(organization):
            return get_response(request)

    return middleware

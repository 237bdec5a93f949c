"""The product catalog: an organization's own products and categories, and the shared ones.

An ORG_ADMIN manages its organization's rows and reads the shared ones (rows of no organization);
changing a shared row is 403, not 404: the caller can read it, so "not found" would be a lie,
and the answer says it is read-only (crm.api.errors). Platform staff with no organization chosen
work on the shared rows themselves; with one chosen they act as that organization, like anyone.
"""
from __future__ import annotations

from django.db import models, transaction
from rest_framework import exceptions, serializers
from rest_framework.request import Request

from crm.api.views import Conflict, TenantViewSet
from crm.roles import is_platform_staff
from tenancy.context import unscoped


class CatalogViewSet(TenantViewSet):
    """Own and shared catalog rows; shared ones written by platform staff only."""

    tenant_required = False  # platform staff without an organization: the shared rows
    _shared_catalog = False

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)
        if self._tenant_scope is None and is_platform_staff(request.user):
            # The shared catalog belongs to no organization: platform staff edit it unscoped
            # (so deleting sees every organization's order items), narrowed to shared rows.
            self._shared_catalog = True
            self._tenant_scope = unscoped()
            self._tenant_scope.__enter__()

    def filter_queryset(self, queryset: models.QuerySet) -> models.QuerySet:
        rows = super().filter_queryset(queryset)
        return rows.filter(organization__isnull=True) if self._shared_catalog else rows

    def _check_writable(self, instance: models.Model) -> None:
        """A shared row is changed by platform staff working on the shared catalog only."""
        # Said here as well as by the tenant layer: with PostgreSQL's policies alone a DELETE of
        # a shared row would match nothing and still answer 204.
        if instance.organization_id is None and not self._shared_catalog:
            raise exceptions.PermissionDenied(
                f"This {instance._meta.verbose_name} belongs to the shared catalog, read-only "
                "for your organization: add a product of your own instead.")

    def perform_update(self, serializer: serializers.Serializer) -> None:
        self._check_writable(serializer.instance)
        super().perform_update(serializer)

    def perform_destroy(self, instance: models.Model) -> None:
        """Delete the row unless order items still use it (409 naming them)."""
        self._check_writable(instance)
        with transaction.atomic():
            try:
                instance.delete()
            except models.ProtectedError as error:
                kinds = sorted({str(o._meta.verbose_name_plural) for o in error.protected_objects})
                raise Conflict(
                    f"This {instance._meta.verbose_name} is still referenced by "
                    f"{', '.join(kinds)}, so it cannot be deleted; delete or change those first."
                ) from None

"""The API base: every request runs as exactly one organization, resolved after authentication."""
from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from functools import cache
from typing import Any, ClassVar

from django.contrib.auth import authenticate
from django.db import models, transaction
from django.http import Http404
from django.utils import timezone
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import audit
from crm.accounts import signin
from crm.api.serializers import serializer_for
from crm.models import ApiToken, JobStatus
from crm.visibility import visible_rows
from tenancy.context import tenant_context, unscoped
from tenancy.middleware import HEADER, TenantResolutionError, resolve_organization


class OrganizationScopedMixin:
    """Activate the caller's organization once DRF has authenticated them; reset it after."""

    tenant_required: ClassVar[bool] = True
    _tenant_scope: AbstractContextManager[Any] | None = None

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)  # type: ignore[misc]
        try:
            organization = resolve_organization(request)
        except TenantResolutionError as error:
            exc = exceptions.NotFound if error.status == 404 else exceptions.PermissionDenied
            raise exc(error.message) from None
        if organization is None:
            if self.tenant_required and request.user.is_authenticated:
                raise exceptions.ParseError(
                    f"Choose an organization with the {HEADER} header (its id or code): "
                    "platform staff act as one organization per request."
                )
            return
        self._tenant_scope = tenant_context(organization)
        self._tenant_scope.__enter__()

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
            if hasattr(response, "render") and not response.is_rendered:
                response.render()  # while the organization is still active
            return response
        finally:
            if self._tenant_scope is not None:
                self._tenant_scope.__exit__(None, None, None)
                self._tenant_scope = None


class TenantViewSet(OrganizationScopedMixin, viewsets.ModelViewSet):
    """CRUD on one tenant table; the scoped manager is the only source of rows."""

    model: ClassVar[type[models.Model]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__ or "queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} must not define queryset/get_queryset: rows come from the "
                "model's scoped manager (TenantViewSet.get_queryset)."
            )

    def get_queryset(self) -> models.QuerySet:
        rows = self.model._default_manager.select_related(*_keyed_by_value(self.model))
        return visible_rows(self.request.user, rows)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return serializer_for(self.model)

    def get_serializer(self, *args: Any, **kwargs: Any) -> serializers.BaseSerializer:
        serializer = super().get_serializer(*args, **kwargs)
        if isinstance(serializer, serializers.Serializer):
            # A row may only point at rows the caller sees: a hidden customer is "not found".
            for field in serializer.fields.values():
                if isinstance(field, serializers.RelatedField) and field.queryset is not None:
                    field.queryset = visible_rows(self.request.user, field.queryset)
        return serializer

    def _stamps(self, *names: str) -> dict[str, Any]:
        fields = {f.name for f in self.model._meta.get_fields()}
        now = timezone.now()
        stamps = {name: now for name in names if name.endswith("_at") and name in fields}
        stamps.update({name: self.request.user for name in names
                       if name.endswith("_by") and name in fields})
        return stamps

    def perform_create(self, serializer: serializers.Serializer) -> None:
        with transaction.atomic():
            serializer.save(**self._stamps("created_at", "updated_at", "created_by"))

    def perform_update(self, serializer: serializers.Serializer) -> None:
        with transaction.atomic():
            serializer.save(**self._stamps("updated_at", "updated_by"))

    def perform_destroy(self, instance: models.Model) -> None:
        with transaction.atomic():
            instance.delete()


@cache
def _keyed_by_value(model: type[models.Model]) -> tuple[str, ...]:
    """Foreign keys to a non-key column: the serializer renders them from the joined row."""
    return tuple(
        field.name for field in model._meta.concrete_fields
        if field.is_relation and not field.target_field.primary_key
    )


class ReadOnlyTenantViewSet(TenantViewSet):
    """Logs: list and retrieve only."""

    http_method_names = ["get", "head", "options"]


class JobStatusViewSet(TenantViewSet):
    """job_status has a composite key: `/job-status/<job id>:<customer id>/`."""

    model = JobStatus
    ordering = ("job_id", "customer_id")
    lookup_value_regex = "[0-9a-fA-F-]{36}:[0-9a-fA-F-]{36}"

    def get_object(self) -> JobStatus:
        job_id, _, customer_id = self.kwargs["pk"].partition(":")
        try:
            key = {"job_id": uuid.UUID(job_id), "customer_id": uuid.UUID(customer_id)}
        except ValueError:
            raise Http404 from None
        obj = self.get_queryset().filter(**key).first()
        if obj is None:
            raise Http404
        self.check_object_permissions(self.request, obj)
        return obj


class Conflict(exceptions.APIException):
    """409: the request is valid but other rows depend on the one it would change."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class TokenRequestSerializer(serializers.Serializer):
    """Credentials for a new API token."""

    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})
    organization = serializers.CharField(
        required=False, help_text="Organization code, needed when the username is in several."
    )


class ObtainTokenView(APIView):
    """POST username + password (+ organization code): a new API token, shown once."""

    authentication_classes: ClassVar[list[Any]] = []
    permission_classes = (AllowAny,)
    serializer_class = TokenRequestSerializer

    def post(self, request: Request) -> Response:
        credentials = TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        try:
            signin.check(credentials.validated_data["username"], request)
        except signin.LockedOut as locked:
            return Response({"detail": str(locked)}, status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(locked.retry_after)})
        # Through Django's authenticate(): a failure is counted and audited (crm.accounts.signin).
        user = authenticate(request._request, **credentials.validated_data)
        if user is None:
            return Response({"detail": (
                "Wrong username or password, an inactive organization, or a username that exists "
                "in several organizations: then send its organization code too."
            )}, status=status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": "Token"})
        # Platform staff belong to no organization: their token row is written unscoped.
        scope = tenant_context(user.organization_id) if user.organization_id else unscoped()
        with scope:
            token, key = ApiToken.issue(user)
        signin.signed_in(user, request, "token")
        if user.organization_id is not None:
            audit.record(audit.TOKEN_CREATED, actor=user, organization=user.organization_id,
                         token=token.pk)
        return Response({"token": key, "user": str(user.pk)}, status=status.HTTP_201_CREATED)

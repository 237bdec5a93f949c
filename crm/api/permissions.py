"""Role-based access for API resources (crm.roles decides)."""
from __future__ import annotations

from typing import Any

from rest_framework import permissions

from crm.roles import can_read, can_write


class RolePermission(permissions.BasePermission):
    """Read with can_read, write with can_write, for the view's model."""

    message = "Your role may not do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        model = getattr(view, "model", None)
        if model is None:
            return bool(request.user and request.user.is_authenticated)
        if request.method in permissions.SAFE_METHODS:
            return can_read(request.user, model)
        return can_write(request.user, model)

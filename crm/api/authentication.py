"""Bearer tokens: `Authorization: Token <key>` (or `Bearer <key>`), stored hashed."""
from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from crm.models import ApiToken
from tenancy.context import unscoped


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate by an API token issued at POST /api/v1/auth/token/."""

    keywords = ("token", "bearer")

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Token <key>'.")
        # The token is what tells us the organization: a lookup by its exact hash, nothing else.
        with unscoped():
            token = (
                ApiToken.objects.select_related("user__organization", "user__role")
                .filter(key_hash=ApiToken.hash(parts[1].decode(errors="replace")))
                .first()
            )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        # An inactive organization's staff are known but refused: resolve_organization says 403.
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return "Token"

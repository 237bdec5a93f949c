"""API throttles on the shared cache (Redis): per token (or session, or anonymous address) and
per organization, answering 429 with Retry-After (DRF's Throttled). Rates come from settings at
each request, so they change with the environment; an unreachable cache fails open, warned."""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from crm.models import ApiToken

logger = logging.getLogger(__name__)


class _SettingsRateThrottle(SimpleRateThrottle):
    """A rate read from the setting named `setting` ("600/min"; empty: no limit)."""

    setting = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.setting) or None

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError as error:
            logger.warning("API throttle %s unavailable (cache unreachable): %s", self.scope,
                           error)
            return True


class TokenRateThrottle(_SettingsRateThrottle):
    """Per API token; a signed-in session counts per user."""

    scope = "token"
    setting = "API_THROTTLE_PER_TOKEN"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if isinstance(request.auth, ApiToken):
            return f"throttle:token:{request.auth.pk}"
        if request.user.is_authenticated:
            return f"throttle:user:{request.user.pk}"
        return None


class AnonymousRateThrottle(_SettingsRateThrottle):
    """Callers who are not signed in (sign-up, token, password reset), per address."""

    scope = "anonymous"
    setting = "API_THROTTLE_ANONYMOUS"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.user.is_authenticated:
            return None
        return f"throttle:address:{self.get_ident(request)}"


class OrganizationRateThrottle(_SettingsRateThrottle):
    """Every token and user of one organization together."""

    scope = "organization"
    setting = "API_THROTTLE_PER_ORGANIZATION"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        organization_id = getattr(request.user, "organization_id", None)
        return f"throttle:organization:{organization_id}" if organization_id else None

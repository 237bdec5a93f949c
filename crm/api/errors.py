"""API error responses: tenancy and integrity errors become clear 4xx answers."""
from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenancy.exceptions import CrossTenantError
from tenancy.rls import is_policy_violation

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus CrossTenantError and row-level security refusals (403), and
    IntegrityError (409)."""
    refused = isinstance(exc, DatabaseError) and is_policy_violation(exc)
    if refused:
        logger.warning("API write refused by row-level security: %s", exc)
    if isinstance(exc, CrossTenantError) or refused:
        # Reached only for rows the caller may read but not write, such as shared templates.
        return Response({"detail": "This record is read-only for your organization."},
                        status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, IntegrityError):
        logger.info("API write refused by a database constraint: %s", type(exc).__name__)
        return Response({"detail": "This conflicts with an existing record."},
                        status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)

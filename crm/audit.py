"""The audit log of each organization (audit_events): `record` is the one way to write to it.

Other capabilities call `crm.audit.record("customer.erased", actor=user, customer=str(pk))`.
Details are ids and names, never secrets: the ORG_ADMIN reads them as they are.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from crm.models import AuditEvent
from tenancy.context import tenant_context

# The actions this package and its callers write; readers filter on them.
SIGN_IN = "user.signed_in"
SIGN_IN_FAILED = "user.sign_in_failed"
TOKEN_CREATED = "token.created"
SIGNED_UP = "organization.signed_up"
EMAIL_CONFIRMED = "organization.email_confirmed"
INVITED = "user.invited"
INVITATION_REVOKED = "invitation.revoked"
JOINED = "user.joined"
DEACTIVATED = "user.deactivated"
REACTIVATED = "user.reactivated"
ROLE_CHANGED = "user.role_changed"
PASSWORD_RESET = "user.password_reset"
SUSPENDED = "organization.suspended"
RESUMED = "organization.reactivated"
SETTINGS_CHANGED = "organization.settings_changed"
LOGO_CHANGED = "organization.logo_changed"
LOGO_REMOVED = "organization.logo_removed"
# Credentials for a third party: which provider, never a value (crm.integrations.credentials).
CREDENTIALS_STORED = "integration.credentials_stored"
CREDENTIALS_REPLACED = "integration.credentials_replaced"
CREDENTIALS_DELETED = "integration.credentials_deleted"
# Outgoing webhook subscriptions: the URL and events, never the signing secret.
SUBSCRIPTION_CREATED = "webhook_subscription.created"
SUBSCRIPTION_DELETED = "webhook_subscription.deleted"


def record(action: str, *, actor: Any = None, organization: Any = None,
           **details: Any) -> AuditEvent:
    """Write one event of `organization` (default: the active one), done by `actor` (a user)."""
    with tenant_context(organization) if organization is not None else nullcontext():
        return AuditEvent.objects.create(
            action=action,
            actor_id=getattr(actor, "pk", None),
            actor_name=getattr(actor, "username", "") or "",
            details={key: value if isinstance(value, (int, bool, type(None))) else str(value)
                     for key, value in details.items()},
        )

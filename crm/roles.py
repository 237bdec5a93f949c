"""What each role may do: one table, read by the REST API and the admin alike."""
from __future__ import annotations

from typing import Any

from django.db import models

from crm.models import Role
from tenancy.guards import is_tenant_model

# AGENT works the conversations; every other tenant table is read-only to an agent.
AGENT_WRITES = frozenset({"customer", "message", "customeraddress", "lead", "quickreply",
                          "customerlabel"})
# History written by the system only: nobody edits it by hand.
LOG_MODELS = frozenset({"flowlog", "campaignlog", "whatsappapilog", "zohopayloadlog",
                        "automationrun", "automationschedule", "webhookdelivery",
                        "paymentevent", "auditevent", "organizationexport",
                        # report roll-ups, kept by triggers (crm.0032)
                        "dailymessagestat", "campaignfunnel", "responsetime",
                        "responsetimecount",  # kept by a trigger on response_times (crm.0043)
                        # resolutions, recorded when a conversation is resolved (crm.0039)
                        "conversationresolution"})
# What agents do not see in the back office: system history and API credentials.
AGENT_HIDDEN_IN_ADMIN = LOG_MODELS | {"apitoken", "webhooksubscription", "integrationcredential",
                                      "invitation"}
# Shared tables an organization's staff may read (the rest are platform-only); the product
# catalog is a tenant table with shared rows since crm.0037.
CATALOG_MODELS = frozenset({"cost", "file"})


def role_of(user: Any) -> str | None:
    """SUPER_ADMIN, ORG_ADMIN, AGENT, or None for anonymous and role-less users."""
    if not getattr(user, "is_authenticated", False):
        return None
    return user.role_name


def is_platform_staff(user: Any) -> bool:
    """SUPER_ADMIN with no organization."""
    return bool(getattr(user, "is_authenticated", False) and user.is_super_admin)


def can_read(user: Any, model: type[models.Model]) -> bool:
    """Staff read every tenant table and the shared catalog; platform tables are SUPER_ADMIN's."""
    role = role_of(user)
    if role is None:
        return False
    if is_platform_staff(user):
        return True
    return is_tenant_model(model) or model._meta.model_name in CATALOG_MODELS


def can_write(user: Any, model: type[models.Model]) -> bool:
    """Whether `user` may add, change and delete rows of `model` (row rules still apply)."""
    name = model._meta.model_name
    if name in LOG_MODELS or role_of(user) is None:
        return False
    if is_platform_staff(user):
        return True
    if not is_tenant_model(model):
        return False  # organizations, roles and the shared catalog are platform data
    if role_of(user) == Role.ORG_ADMIN:
        return True
    return role_of(user) == Role.AGENT and name in AGENT_WRITES


# What an ORG_ADMIN may change on its own organization: settings of how it works, never what
# identifies it (code, slug: sign-in and URLs) nor whether it is active (platform decisions).
ORG_ADMIN_ORGANIZATION_FIELDS = ("name", "description", "agents_see_all", "time_zone",
                                 "business_hours", "agent_reply_grace_minutes", "default_country")


def may_edit_own_organization(user: Any) -> bool:
    """Whether `user` changes its own organization's settings (ORG_ADMIN_ORGANIZATION_FIELDS)."""
    return role_of(user) == Role.ORG_ADMIN and user.organization_id is not None


def hidden_in_admin(user: Any, model: type[models.Model]) -> bool:
    """Whether the back office hides `model` from `user` (agents: logs and API tokens)."""
    return role_of(user) == Role.AGENT and model._meta.model_name in AGENT_HIDDEN_IN_ADMIN

"""The CRM's Django admin: `site`, and every model registered on it (one module per domain)."""
from crm.admin.sites import site
from crm.admin import (  # noqa: F401  (registers the model admins)
    accounts,
    audiences,
    automation,
    campaigns,
    catalog,
    contacts,
    credentials,
    customers,
    integrations,
    messaging,
    orders,
    organizations,
    outgoing,
    reports,
    users,
    webhooks,
)

__all__ = ["site"]

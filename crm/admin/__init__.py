"""The CRM's Django admin: `site`, and every model registered on it (one module per domain)."""
from crm.admin.sites import site
from crm.admin import (  # noqa: F401  (registers the model admins)
    automation,
    campaigns,
    catalog,
    customers,
    integrations,
    messaging,
    orders,
    organizations,
    users,
    webhooks,
)

__all__ = ["site"]

"""App config for the CRM models."""
from django.apps import AppConfig


class CrmConfig(AppConfig):
    """wb-crm's tables as Django models."""

    name = "crm"
    verbose_name = "WhatsApp CRM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the signal receivers (the inbox's, outgoing webhooks', sign-in's); register
        the integrations."""
        from crm.accounts import signin  # noqa: F401
        from crm.inbox import signals  # noqa: F401
        from crm.outgoing import signals as outgoing_signals  # noqa: F401
        from crm.payments import razorpay  # noqa: F401
        from crm.zoho import provider  # noqa: F401

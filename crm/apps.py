"""App config for the CRM models."""
from django.apps import AppConfig


class CrmConfig(AppConfig):
    """wb-crm's tables as Django models."""

    name = "crm"
    verbose_name = "WhatsApp CRM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the signal receivers of the inbox and of outgoing webhooks."""
        from crm.inbox import signals  # noqa: F401
        from crm.outgoing import signals as outgoing_signals  # noqa: F401

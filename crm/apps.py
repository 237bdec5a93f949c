"""App config for the CRM models."""
from django.apps import AppConfig


class CrmConfig(AppConfig):
    """wb-crm's tables as Django models."""

    name = "crm"
    verbose_name = "WhatsApp CRM"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the inbox's signal receivers (crm.inbox.signals) and sign-in's
        (crm.accounts.signin)."""
        from crm.accounts import signin  # noqa: F401
        from crm.inbox import signals  # noqa: F401

"""App config: registers the tenancy system checks."""
from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """The tenant layer."""

    name = "tenancy"

    def ready(self) -> None:
        from tenancy import checks  # noqa: F401  (registers the checks)

"""App config: registers the tenancy system checks, the raw-save guard and join scoping."""
from django.apps import AppConfig
from django.db.models.signals import pre_save


class TenancyConfig(AppConfig):
    """The tenant layer."""

    name = "tenancy"

    def ready(self) -> None:
        from tenancy import checks  # noqa: F401  (registers the checks)
        from tenancy import joins
        from tenancy.guards import guard_raw_save

        pre_save.connect(guard_raw_save, dispatch_uid="tenancy.guard_raw_save")
        joins.install()

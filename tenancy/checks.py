"""System checks: every model is classified, and tenant models keep their scoped managers."""
from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

from tenancy.guards import is_tenant_model
from tenancy.models import TenantManager


@checks.register(checks.Tags.models)
def check_tenant_classification(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Each model of TENANCY_APPS is a TenantModel or on TENANCY_SHARED_MODELS, never both."""
    shared = set(getattr(settings, "TENANCY_SHARED_MODELS", []))
    errors: list[checks.CheckMessage] = []
    for label in sorted(shared):
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            errors.append(checks.Error(
                f"TENANCY_SHARED_MODELS names {label!r}, which is not an installed model.",
                hint="Remove it from TENANCY_SHARED_MODELS or fix the label (app_label.Model).",
                id="tenancy.E002",
            ))
            continue
        if is_tenant_model(model):
            errors.append(checks.Error(
                f"{label} is a TenantModel and also listed in TENANCY_SHARED_MODELS.",
                hint="A model is either tenant-scoped or shared: remove one of the two.",
                obj=model, id="tenancy.E003",
            ))
    for app_label in getattr(settings, "TENANCY_APPS", []):
        for model in apps.get_app_config(app_label).get_models():
            if model._meta.label in shared:
                continue
            if not is_tenant_model(model):
                errors.append(checks.Error(
                    f"{model._meta.label} is neither a TenantModel nor a shared model.",
                    hint="Inherit tenancy.models.TenantModel, or add it to TENANCY_SHARED_MODELS "
                    "if every organization may read and write all of its rows.",
                    obj=model, id="tenancy.E001",
                ))
            elif not (
                isinstance(model._default_manager, TenantManager)
                and isinstance(model._base_manager, TenantManager)
            ):
                errors.append(checks.Error(
                    f"{model._meta.label} must keep a TenantManager as default and base manager.",
                    hint="Declare other managers after `objects`, and subclass TenantManager; "
                    "keep Meta.base_manager_name = 'objects'.",
                    obj=model, id="tenancy.E004",
                ))
    return errors

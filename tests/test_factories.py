"""Every crm model has a factory, and tenant factories stay inside the active organization."""
from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models
from factory.django import DjangoModelFactory

from crm.models import Organization, User
from tenancy.context import tenant_context, unscoped
from tenancy.guards import is_tenant_model
from tests import factories
from tests.factories import ALL_FACTORIES, model_of

TENANT_FACTORIES = [f for f in ALL_FACTORIES if is_tenant_model(model_of(f))]
SHARED_FACTORIES = [f for f in ALL_FACTORIES if not is_tenant_model(model_of(f))]


def _tenant_parents(obj: models.Model) -> list[models.Model]:
    """The tenant rows `obj` points at through foreign keys and one-to-one fields."""
    parents = []
    for field in obj._meta.concrete_fields:
        if field.is_relation and field.name != "organization" and is_tenant_model(
            field.related_model
        ):
            parent = getattr(obj, field.name)
            if parent is not None:
                parents.append(parent)
    return parents


@pytest.mark.parametrize("factory_class", TENANT_FACTORIES, ids=lambda f: f.__name__)
def test_tenant_factory_builds_in_active_organization(
    factory_class: type[DjangoModelFactory], org_a: Organization, org_b: Organization
) -> None:
    """A row made in A belongs to A (and so do its parents), and B cannot see it."""
    model = model_of(factory_class)
    with tenant_context(org_a):
        obj = factory_class()
        assert obj.organization_id == org_a.pk
        stored = model.objects.get(pk=obj.pk)
        assert stored.organization_id == org_a.pk
        for parent in _tenant_parents(stored):
            assert parent.organization_id == org_a.pk, f"{parent._meta.label} left org A"
    with tenant_context(org_b):
        assert not model.objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("factory_class", SHARED_FACTORIES, ids=lambda f: f.__name__)
def test_shared_factory_builds_a_row_every_organization_sees(
    factory_class: type[DjangoModelFactory], org_a: Organization, org_b: Organization
) -> None:
    """Shared rows have no organization column and are seen from every organization."""
    model = model_of(factory_class)
    with unscoped():  # shared tables are written by platform code, never by one organization
        obj = factory_class()
    assert "organization" not in {f.name for f in model._meta.concrete_fields}
    for org in (org_a, org_b):
        with tenant_context(org):
            assert model.objects.filter(pk=obj.pk).exists()


def test_every_crm_model_has_a_factory() -> None:
    """Adding a crm model without a factory fails here."""
    covered = {model_of(f) for f in ALL_FACTORIES}
    missing = [
        m._meta.label for m in apps.get_app_config("crm").get_models() if m not in covered
    ]
    assert not missing, f"no factory in tests/factories.py for: {', '.join(missing)}"
    assert len(ALL_FACTORIES) == len(covered), "two factories build the same model"


def test_job_status_parents_share_one_organization(org_a: Organization) -> None:
    """The composite key's job and customer are both created in the active organization."""
    with tenant_context(org_a):
        status = factories.JobStatusFactory()
        assert status.pk == (status.job_id, status.customer_id)
        assert status.job.organization_id == status.customer.organization_id == org_a.pk


def test_user_factory_password_and_roles(org_a: Organization) -> None:
    """Users get a usable password; roles are fetched by name, not duplicated."""
    with tenant_context(org_a):
        agent = factories.UserFactory()
        admin = factories.UserFactory(org_admin=True)
        other_agent = factories.UserFactory()
    assert agent.check_password(factories.DEFAULT_PASSWORD)
    assert agent.role_id == other_agent.role_id
    assert admin.role.name == "ORG_ADMIN" and admin.legacy_role == User.LegacyRole.ADMIN


def test_shared_rows_and_platform_staff_made_unscoped(org_a: Organization) -> None:
    """Inside unscoped(), Template/ZohoMapping rows are shared and a user is platform staff."""
    with unscoped():  # shared templates, mappings and platform staff belong to no organization
        template = factories.TemplateFactory()
        mapping = factories.ZohoMappingFactory()
        staff = factories.UserFactory(super_admin=True)
    assert template.organization_id is None and mapping.organization_id is None
    assert staff.organization_id is None and staff.is_super_admin
    with tenant_context(org_a):
        assert factories.TemplateFactory._meta.model.objects.filter(pk=template.pk).exists()
        assert not User.objects.filter(pk=staff.pk).exists()

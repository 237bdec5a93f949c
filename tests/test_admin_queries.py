"""Every changelist runs the same number of queries whatever its page size (no query per row)."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from crm.admin import site
from crm.admin.scoping import ALL
from crm.models import Role
from crm.roles import CATALOG_MODELS
from tenancy.context import tenant_context, unscoped
from tenancy.guards import is_tenant_model
from tests.factories import OrganizationFactory, RoleFactory
from tests.test_admin_support import FACTORIES, admin_url, make_staff, registered, signed_in

ROWS = 7
SMALL, LARGE = 2, ROWS


def _fill_relations(row: models.Model) -> None:
    """Point every empty foreign key of `row` at a new row, so each row has its own parents."""
    empty = [f for f in row._meta.concrete_fields
             if f.many_to_one and f.name != "organization" and getattr(row, f.attname) is None]
    for field in empty:
        setattr(row, field.name, FACTORIES[field.related_model]())
    if empty:
        row.save()


def _rows(model: type[models.Model], orgs: list[Any]) -> None:
    """ROWS rows of `model`, each with its own parents (every foreign key set), over `orgs`."""
    for i in range(ROWS):
        if model is Role:
            with unscoped():
                RoleFactory(name=f"ROLE_{i}")
        elif model._meta.model_name == "organization":
            with unscoped():
                OrganizationFactory()
        else:
            tenant = is_tenant_model(model)
            with tenant_context(orgs[i % len(orgs)]) if tenant else unscoped():
                _fill_relations(FACTORIES[model]())


def _count(client: Any, model: type[models.Model], per_page: int) -> tuple[int, int]:
    model_admin = site._registry[model]
    model_admin.list_per_page = per_page
    try:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(admin_url(model))
    finally:
        del model_admin.list_per_page  # back to the class attribute
    assert page.status_code == 200
    return len(queries), len(page.context["cl"].result_list)


# Organization staff have no changelist of the platform tables (organizations, roles, Meta's
# inbound deliveries): those pairs are not tests. Integration credentials are one row per
# provider and organization: their page cannot grow.
CASES = [
    (model, viewer) for model, _ in registered() for viewer in ("org_admin", "super_all")
    if (viewer == "super_all" or is_tenant_model(model)
        or model._meta.model_name in CATALOG_MODELS)
    and model._meta.model_name != "integrationcredential"
]


@pytest.mark.parametrize(("model", "viewer"), CASES,
                         ids=[f"{m._meta.model_name}-{viewer}" for m, viewer in CASES])
def test_changelist_queries_do_not_grow_with_the_page(model, viewer, org_a, org_b) -> None:
    if viewer == "org_admin":
        client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
        _rows(model, [org_a])
    else:
        client = signed_in(make_staff(None, Role.SUPER_ADMIN), ALL)
        _rows(model, [org_a, org_b])
    small, shown_small = _count(client, model, SMALL)
    large, shown_large = _count(client, model, LARGE)
    assert (shown_small, shown_large) == (SMALL, LARGE)
    assert small == large, f"{model._meta.label}: {small} queries for {SMALL} rows, {large} " \
        f"for {LARGE}"

"""Every tenant model: B's rows are invisible and unchangeable from A; no organization raises."""
from __future__ import annotations

from copy import copy
from typing import Any

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F

from crm.models import Organization
from tenancy.context import tenant_context, unscoped
from tenancy.derivations import FromMatch
from tenancy.exceptions import CrossTenantError
from tenancy.guards import derive_organization_id, is_tenant_model, tenant_foreign_keys
from tests.factories import ALL_FACTORIES, model_of
from tests.isolation import no_organization, refused

# Twice: with the Python scope, and with PostgreSQL's row-level security alone.
pytestmark = pytest.mark.usefixtures("python_scope")

TENANT_FACTORIES = {model_of(f): f for f in ALL_FACTORIES if is_tenant_model(model_of(f))}
MODELS = sorted(TENANT_FACTORIES, key=lambda m: m._meta.label)
RELATIONS = [
    (model, fk.name) for model in MODELS for fk in tenant_foreign_keys(model)
]


def _make(model: type[models.Model], org: Organization, **kwargs: Any) -> Any:
    with tenant_context(org):
        return TENANT_FACTORIES[model](**kwargs)


def _plain_field(model: type[models.Model]) -> str | None:
    """A concrete, non-key, non-relational column to rewrite in place (None: only keys, as in
    campaign_customers)."""
    return next((
        f.attname for f in model._meta.concrete_fields
        if not f.primary_key and not f.is_relation and f.name != "password"
    ), None)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_b_rows_are_invisible_from_a(model: type[models.Model], org_a, org_b) -> None:
    mine, theirs = _make(model, org_a), _make(model, org_b)
    with tenant_context(org_a):
        manager = model._default_manager
        assert mine.organization_id == org_a.pk
        assert set(manager.values_list("pk", flat=True)) >= {mine.pk}
        assert theirs.pk not in set(manager.values_list("pk", flat=True))
        assert not manager.filter(pk=theirs.pk).exists()
        with pytest.raises(model.DoesNotExist):
            manager.get(pk=theirs.pk)
        if not isinstance(model._meta.pk, models.CompositePrimaryKey):
            assert manager.in_bulk([theirs.pk]) == {}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_b_rows_are_unchangeable_from_a(
    model: type[models.Model], org_a, org_b, python_scope: bool
) -> None:
    theirs = _make(model, org_b)
    column = _plain_field(model)
    with unscoped():
        before = model._default_manager.filter(pk=theirs.pk).values().get()
    with tenant_context(org_a):
        manager = model._default_manager
        if column is not None:
            assert manager.filter(pk=theirs.pk).update(**{column: F(column)}) == 0
        assert manager.filter(pk=theirs.pk).delete()[0] == 0
        # Copies: Model.delete() clears the pk of the instance it was called on.
        attempts = [lambda: copy(theirs).save(), lambda: copy(theirs).delete()]
        if column is not None:
            attempts.append(lambda: manager.bulk_update([copy(theirs)], [column]))
        for attempt in attempts:
            with refused(python_scope):
                attempt()
    with unscoped():
        assert model._default_manager.filter(pk=theirs.pk).values().get() == before


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_no_organization_raises(model: type[models.Model], org_a, python_scope: bool) -> None:
    mine = _make(model, org_a)
    manager = model._default_manager
    for query in (lambda: list(manager.all()), manager.count, manager.exists,
                  lambda: manager.filter(pk=mine.pk).delete()):
        with no_organization(python_scope):
            query()
    with no_organization(python_scope):
        mine.save()


def _same_organization_key(table: str, column: str) -> bool:
    """Whether crm.0011 gave `table.column` a same-organization composite foreign key."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = %s",
                       [f"{table}_{column}_same_org_fk"])
        return cursor.fetchone() is not None


@pytest.mark.parametrize(("model", "relation"), RELATIONS,
                         ids=[f"{m._meta.label}.{r}" for m, r in RELATIONS])
def test_a_row_cannot_point_at_b(
    model: type[models.Model], relation: str, org_a, org_b, python_scope: bool
) -> None:
    parent_model = model._meta.get_field(relation).related_model
    parents_of_b = _make(parent_model, org_b)
    if python_scope:
        with pytest.raises(CrossTenantError, match=relation):
            _make(model, org_a, **{relation: parents_of_b})
        return
    column = model._meta.get_field(relation).column
    try:
        with transaction.atomic():
            child = _make(model, org_a, **{relation: parents_of_b})
            with connection.cursor() as cursor:  # crm.0011's keys are checked at COMMIT
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except IntegrityError as error:  # a same-organization key refused the row (or its parents)
        assert "same_org_fk" in str(error)
        return
    # No key on this relation (to users, or kept without one by wb-crm): the policies check
    # organization_id, not references; through such a row A still reaches nothing of B.
    assert not _same_organization_key(model._meta.db_table, column)
    with tenant_context(org_a):
        fresh = model._default_manager.get(pk=child.pk)
        with pytest.raises(parent_model.DoesNotExist):
            getattr(fresh, relation)


@pytest.mark.parametrize("model", [m for m in MODELS if m.tenant_derivation],
                         ids=lambda m: m._meta.label)
def test_unscoped_rows_take_their_parents_organization(model, org_a, org_b) -> None:
    row = _make(model, org_b)
    first = model.tenant_derivation[0]
    if isinstance(first, FromMatch):  # linked by value: one matching row, in B
        value = {first.to_field: getattr(row, first.field)}
        with tenant_context(org_b):  # a flow's factory made its number already; a wa_id has none
            matched = apps.get_model(first.model).objects.filter(**value).exists()
        if not matched:
            _make(apps.get_model(first.model), org_b, **value)
    row.organization_id = None
    with unscoped():  # platform code (a job, an import) writing for whichever tenant owns it
        assert derive_organization_id(row) == org_b.pk
    if isinstance(first, FromMatch):  # the same wa_id in A too: ambiguous, nothing is derived
        # A number is verified in one organization at most (crm.0020): A's copy is pending.
        pending = {"verified": False} if first.model == "crm.WhatsAppNumber" else {}
        _make(apps.get_model(first.model), org_a, **{first.to_field: getattr(row, first.field)},
              **pending)
        with unscoped():
            assert derive_organization_id(row) is None

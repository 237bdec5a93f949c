"""The tenancy audit: rows without organization, and rows that disagree with their parents."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connection, models

from tenancy.derivations import FromMatch
from tenancy.guards import is_tenant_model, tenant_foreign_keys


@dataclass
class TableAudit:
    """What the audit found in one tenant table."""

    table: str
    null_rows: int
    null_meaning: str
    disagreements: dict[str, int] = field(default_factory=dict)


def tenant_models() -> list[type[models.Model]]:
    """Every concrete TenantModel of TENANCY_APPS."""
    return [
        model
        for label in settings.TENANCY_APPS
        for model in apps.get_app_config(label).get_models()
        if is_tenant_model(model)
    ]


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _parent_disagreement_sql(model: type[models.Model], fk: models.ForeignKey) -> str:
    q = connection.ops.quote_name
    parent = fk.related_model
    tolerated = (
        " AND p.organization_id IS NOT NULL" if parent.null_organization_allowed() else ""
    )
    return (
        f"SELECT count(*) FROM {q(model._meta.db_table)} t "
        f"JOIN {q(parent._meta.db_table)} p ON p.{q(fk.target_field.column)} = t.{q(fk.column)} "
        f"WHERE t.organization_id IS NOT NULL{tolerated} "
        "AND (p.organization_id IS NULL OR p.organization_id <> t.organization_id)"
    )


def _match_disagreement_sql(model: type[models.Model], match: FromMatch) -> str:
    q = connection.ops.quote_name
    other = apps.get_model(match.model)
    column = q(model._meta.get_field(match.field).column)
    to_column = q(other._meta.get_field(match.to_field).column)
    unless = (
        f" AND t.{q(model._meta.get_field(match.unless).column)} IS NULL" if match.unless else ""
    )
    matching = f"SELECT 1 FROM {q(other._meta.db_table)} p WHERE p.{to_column} = t.{column}"
    return (
        f"SELECT count(*) FROM {q(model._meta.db_table)} t WHERE t.organization_id IS NOT NULL"
        f"{unless} AND EXISTS ({matching}) "
        f"AND NOT EXISTS ({matching} AND p.organization_id = t.organization_id)"
    )


def audit() -> list[TableAudit]:
    """Audit every tenant table with set-based SQL (no rows are loaded)."""
    results = []
    for model in tenant_models():
        table = model._meta.db_table
        meaning = (
            "shared by every organization" if model.shared_rows
            else "platform staff" if model.platform_rows
            else "not derivable: invisible to every organization"
        )
        result = TableAudit(
            table=table,
            null_rows=_count(f"SELECT count(*) FROM {connection.ops.quote_name(table)} "
                             "WHERE organization_id IS NULL"),
            null_meaning=meaning,
        )
        for fk in tenant_foreign_keys(model):
            result.disagreements[fk.name] = _count(_parent_disagreement_sql(model, fk))
        for derivation in model.tenant_derivation:
            if isinstance(derivation, FromMatch):
                label = f"{derivation.field} -> {derivation.model}.{derivation.to_field}"
                result.disagreements[label] = _count(_match_disagreement_sql(model, derivation))
        results.append(result)
    return results

"""The tenancy audit: rows without organization, and rows that disagree with their parents.

Every finding names its rows by primary key (composite keys joined with `|`, as
`job_id|customer_id`), so they can be fixed one by one; counts alone cannot be acted on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connection, models

from tenancy.derivations import FromMatch, FromParent
from tenancy.guards import is_tenant_model, tenant_foreign_keys


@dataclass
class TableAudit:
    """What the audit found in one tenant table."""

    table: str
    null_rows: int
    null_meaning: str
    disagreements: dict[str, int] = field(default_factory=dict)
    # Rows without organization where none is meant (not shared, not platform): why, and which.
    null_keys: dict[str, list[str]] = field(default_factory=dict)
    disagreement_keys: dict[str, list[str]] = field(default_factory=dict)


def tenant_models() -> list[type[models.Model]]:
    """Every concrete TenantModel of TENANCY_APPS."""
    return [
        model
        for label in settings.TENANCY_APPS
        for model in apps.get_app_config(label).get_models()
        if is_tenant_model(model)
    ]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def key_sql(model: type[models.Model], alias: str = "t") -> str:
    """SQL naming a row by its primary key as text; a composite key's parts joined by `|`."""
    parts = [f"CAST({alias}.{_q(f.column)} AS TEXT)" for f in model._meta.pk_fields]
    return " || '|' || ".join(parts)


def _keys(model: type[models.Model], where: str) -> list[str]:
    """Keys of the rows `t` of `model` matching `where`, in key order."""
    key = key_sql(model)
    # The audit reads every organization's rows by design: it is the tool that finds strays.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key} FROM {_q(model._meta.db_table)} t WHERE {where} ORDER BY 1")
        return [row[0] for row in cursor.fetchall()]


def _parent_disagreement(model: type[models.Model], fk: models.ForeignKey) -> str:
    parent = fk.related_model
    tolerated = " AND p.organization_id IS NOT NULL" if parent.null_organization_allowed() else ""
    return (
        f"t.organization_id IS NOT NULL AND EXISTS (SELECT 1 FROM {_q(parent._meta.db_table)} p "
        f"WHERE p.{_q(fk.target_field.column)} = t.{_q(fk.column)}{tolerated} "
        "AND (p.organization_id IS NULL OR p.organization_id <> t.organization_id))"
    )


def _match_parts(model: type[models.Model], match: FromMatch) -> tuple[str, str, str]:
    """(our column, the other table, its column) of a FromMatch."""
    other = apps.get_model(match.model)
    return (
        _q(model._meta.get_field(match.field).column),
        _q(other._meta.db_table),
        _q(other._meta.get_field(match.to_field).column),
    )


def _unless(model: type[models.Model], match: FromMatch) -> str:
    return f"t.{_q(model._meta.get_field(match.unless).column)}" if match.unless else ""


def _match_disagreement(model: type[models.Model], match: FromMatch) -> str:
    column, table, to_column = _match_parts(model, match)
    unless = f" AND {_unless(model, match)} IS NULL" if match.unless else ""
    matching = f"SELECT 1 FROM {table} p WHERE p.{to_column} = t.{column}"
    return (
        f"t.organization_id IS NOT NULL{unless} AND EXISTS ({matching}) "
        f"AND NOT EXISTS ({matching} AND p.organization_id = t.organization_id)"
    )


def _reason_sql(model: type[models.Model], derivation: object) -> str:
    """SQL naming why `derivation` gives row `t` no organization."""
    if isinstance(derivation, FromParent):
        fk = model._meta.get_field(derivation.field)
        column, table = _q(fk.column), fk.related_model._meta.db_table
        return (
            f"CASE WHEN t.{column} IS NULL THEN '{fk.column} is NULL' "
            f"WHEN NOT EXISTS (SELECT 1 FROM {_q(table)} p "
            f"WHERE p.{_q(fk.target_field.column)} = t.{column}) "
            f"THEN '{fk.column} points at no {table} row' "
            f"ELSE 'the {table} row has no organization' END"
        )
    assert isinstance(derivation, FromMatch)
    column, table, to_column = _match_parts(model, derivation)
    plain = derivation.field
    reason = (
        f"CASE WHEN t.{column} IS NULL THEN '{plain} is NULL' "
        f"WHEN NOT EXISTS (SELECT 1 FROM {table} p WHERE p.{to_column} = t.{column}) "
        f"THEN 'no {table} row with this {plain}' "
        f"ELSE '{plain} matches {table} of several organizations, or one without' END"
    )
    if not derivation.unless:
        return reason
    return (f"CASE WHEN {_unless(model, derivation)} IS NOT NULL "
            f"THEN 'not tried: {derivation.unless} is set' ELSE {reason} END")


def null_keys(model: type[models.Model]) -> dict[str, list[str]]:
    """{reason: keys} of the rows left without organization, by the model's derivations."""
    reasons = [_reason_sql(model, d) for d in model.tenant_derivation]
    reason = " || '; ' || ".join(f"({r})" for r in reasons) if reasons else \
        "'no derivation: assign it by hand'"
    key = key_sql(model)
    found: dict[str, list[str]] = {}
    # Like _keys: the audit reads every organization's rows by design.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {reason}, {key} FROM {_q(model._meta.db_table)} t "
            "WHERE t.organization_id IS NULL ORDER BY 1, 2"
        )
        for why, row_key in cursor.fetchall():
            found.setdefault(why, []).append(row_key)
    return found


def audit() -> list[TableAudit]:
    """Audit every tenant table with set-based SQL."""
    results = []
    for model in tenant_models():
        meaning = (
            "shared by every organization" if model.shared_rows
            else "platform staff" if model.platform_rows
            else "not derivable: invisible to every organization"
        )
        result = TableAudit(table=model._meta.db_table, null_rows=0, null_meaning=meaning)
        if model.null_organization_allowed():
            result.null_rows = len(_keys(model, "t.organization_id IS NULL"))
        else:
            result.null_keys = null_keys(model)
            result.null_rows = sum(len(keys) for keys in result.null_keys.values())
        checks = {fk.name: _parent_disagreement(model, fk) for fk in tenant_foreign_keys(model)}
        for derivation in model.tenant_derivation:
            if isinstance(derivation, FromMatch):
                label = f"{derivation.field} -> {derivation.model}.{derivation.to_field}"
                checks[label] = _match_disagreement(model, derivation)
        for label, where in checks.items():
            keys = _keys(model, where)
            result.disagreements[label] = len(keys)
            result.disagreement_keys[label] = keys
        results.append(result)
    return results

"""Same-organization keys (crm.0011) and `tenancy_enforce` on taken-over wb-crm databases.

Scratch databases loaded from the dumps with the planted rows of tests/legacy.py, migrated in
`manage.py` subprocesses, as in production.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import psycopg2
import pytest

from tests.legacy import (
    BY_TABLE,
    ORGS,
    PRE_TENANCY,
    STATES,
    LegacyDatabases,
    execute,
    expected_disagreement_keys,
    expected_org,
    manage,
    output,
    query,
    scratch_database,
    uid,
)

pytestmark = pytest.mark.legacy

keys_migration = importlib.import_module("crm.migrations.0011_same_tenant_keys")
# Tables added later get their keys as they are created, validated at once (empty).
later_migrations = [
    module for module in (importlib.import_module(f"crm.migrations.{path.stem}") for path in
                          sorted(Path(keys_migration.__file__).parent.glob("0*.py"))
                          if int(path.stem[:4]) > 11)
    if hasattr(module, "KEYS")]
LATER_KEYS = {f"{table}_{column}_same_org_fk": True
              for later in later_migrations for table, column, _ in later.KEYS}
# The derivation relation each composite key follows, by tenancy_audit's label.
RELATION = {(table, column.removesuffix("_id")): keys_migration.key_name(table, column)
            for table, column, _, _ in keys_migration.KEYS}
# Models whose rows may have no organization by design (shared or platform rows).
# Tables whose shared rows have no organization (the catalog since crm.0037).
NULLABLE_BY_DESIGN = {"templates", "zoho_mappings", "users", "api_tokens", "categories",
                      "sub_categories", "products"}


def _keys(dbname: str) -> dict[str, bool]:
    """{name: validated} of the same-organization foreign keys."""
    return dict(query(
        dbname,
        "SELECT conname, convalidated FROM pg_constraint "
        "WHERE contype = 'f' AND conname LIKE '%%_same_org_fk'",
    ))


@pytest.mark.parametrize("state", STATES)
def test_keys_validated_where_clean_and_the_report_names_the_blocking_rows(
    legacy: LegacyDatabases, state: str
) -> None:
    """Every key exists; it is validated unless planted rows disagree with the parent, and then
    the report names exactly those rows."""
    run = legacy.migrated(state)
    assert run.result.returncode == 0, output(run.result)
    blocking = {RELATION[relation]: keys
                for relation, keys in expected_disagreement_keys(state).items()
                if relation in RELATION}
    if state == PRE_TENANCY:
        assert not blocking
    else:
        assert blocking == {"messages_customer_id_same_org_fk": ["8"]}  # planted: exercised
    assert _keys(run.name) == {name: name not in blocking for name in RELATION.values()} | (
        LATER_KEYS)
    report = run.result.stdout.split("same-organization keys report")[1]
    for name in RELATION.values():
        line = next(line for line in report.splitlines() if line.strip().startswith(name))
        if name in blocking:
            keys = blocking[name]
            assert f"NOT VALID: {len(keys)} " in line and line.endswith(": " + ", ".join(keys))
        else:
            assert line.split() == [name, "validated"]
    parents = query(run.name, "SELECT conname, convalidated FROM pg_constraint "
                              "WHERE contype = 'u' AND conname LIKE '%%_org_id_uniq'")
    parent_tables = sorted(["campaigns", "customers", "orders",
                            *(table for later in later_migrations
                              for table in getattr(later, "PARENTS", ()))])
    assert sorted(parents) == [(f"{t}_org_id_uniq", True) for t in parent_tables]


@pytest.mark.parametrize(("sql", "key"), [
    # messages' key is NOT VALID in this state (message 8), and still refuses new rows.
    ("INSERT INTO messages (message_id, from_wa_id, to_wa_id, type, body, timestamp, "
     "customer_id, organization_id) VALUES ('wamid.x', '1', '2', 'text', 'x', now(), %s, %s)",
     "messages_customer_id_same_org_fk"),
    ("UPDATE payments SET order_id = %s WHERE id = %s", "payments_order_id_same_org_fk"),
])
def test_the_database_refuses_a_reference_to_another_organization(
    legacy: LegacyDatabases, sql: str, key: str
) -> None:
    """B's row pointing at A's customer or order fails at commit, whatever Python did."""
    params = {
        "messages_customer_id_same_org_fk": [uid("c_a1"), ORGS["B"]],
        "payments_order_id_same_org_fk": [uid("ord_a"), uid("pay_b")],
    }[key]
    with scratch_database(legacy.migrated("after_alembic").name) as db:
        with pytest.raises(psycopg2.errors.ForeignKeyViolation, match=key):
            execute(db, sql, params)


def _nullable(dbname: str) -> set[str]:
    rows = query(dbname, "SELECT table_name FROM information_schema.columns WHERE "
                         "column_name = 'organization_id' AND is_nullable = 'YES'")
    return {table for (table,) in rows} - {"campaign_customers"}


def test_tenancy_enforce_on_a_database_with_underivable_rows(legacy: LegacyDatabases) -> None:
    """Tables whose rows all have an organization become NOT NULL; the others are listed with
    the audit's reasons and keys and stay nullable (exit 1); a rerun after fixing a table (and
    after a run killed with its check in place) finishes it; new NULL rows are refused."""
    run = legacy.migrated(PRE_TENANCY)
    assert run.result.returncode == 0, output(run.result)
    with scratch_database(run.name) as db:
        tenant = _nullable(db)
        underivable = {
            table for table in tenant - NULLABLE_BY_DESIGN
            if any(expected_org(p, PRE_TENANCY) is None for p in BY_TABLE[table])
        }
        # A run killed after adding its check: the check stays, NOT VALID, refusing new NULLs.
        execute(db, "ALTER TABLE number_flow_configs ADD CONSTRAINT "
                    "number_flow_configs_organization_id_not_null "
                    "CHECK (organization_id IS NOT NULL) NOT VALID")
        first = manage(db, "tenancy_enforce")
        assert first.returncode == 1, output(first)
        left = {t for t in tenant if f"  {t}: left nullable" in first.stdout}
        assert left == underivable
        assert "number_flow_configs" in left and "jobs" in left
        assert "1 the campaigns row has no organization: " + uid("job_p") in first.stdout
        assert f'1 no "whatsapp_numbers" row with this phone_number: {uid("nfc_gone")}' \
            in first.stdout
        assert _nullable(db) == left | NULLABLE_BY_DESIGN
        made = {t for t in tenant if f"  {t}: organization_id is NOT NULL" in first.stdout}
        assert made == tenant - left - NULLABLE_BY_DESIGN

        execute(db, "UPDATE number_flow_configs SET organization_id = %s WHERE id = %s",
                [ORGS["A"], uid("nfc_gone")])
        second = manage(db, "tenancy_enforce")
        assert second.returncode == 1, output(second)
        assert "  number_flow_configs: organization_id is NOT NULL" in second.stdout
        assert _nullable(db) == left - {"number_flow_configs"} | NULLABLE_BY_DESIGN
        assert not query(db, "SELECT 1 FROM pg_constraint WHERE conname LIKE '%%_not_null'")
        with pytest.raises(psycopg2.errors.NotNullViolation):
            execute(db, "UPDATE number_flow_configs SET organization_id = NULL")


def test_numbers_taken_over_keep_receiving(legacy: LegacyDatabases) -> None:
    """wb-crm's numbers were set up by the platform's operator: verified by crm.0012, so the
    takeover does not stop inbound messages; numbers added later start pending."""
    run = legacy.migrated(PRE_TENANCY)
    assert run.result.returncode == 0, output(run.result)
    assert query(run.name, "SELECT phone_number_id, verification_status FROM whatsapp_numbers "
                           "ORDER BY 1") == [("PNID-A", "verified"), ("PNID-B", "verified")]

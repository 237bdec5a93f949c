"""docs/SCALING.md's promise: the schema can be distributed on Citus by organization_id.

On a distributed table every unique constraint must contain the distribution column, and the
project's rule is that it leads with it, so each organization's rows and their lookups stay on one
node. Checked on the migrated test database's catalog and on the models' Meta; every exception is
listed here with its reason (and in docs/SCALING.md).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from tenancy.audit import tenant_models

# Tenant tables kept whole on every node (Citus reference tables): rows without organization
# (NULL cannot be a distribution value), or looked up before any organization is known.
REFERENCE_TABLES = {
    "users": "platform staff have no organization; sign-in finds a username across organizations",
    "api_tokens": "platform staff's tokens have no organization; found by hash before one is known",
    "templates": "shared templates have no organization (NULL cannot be a distribution value)",
    "zoho_mappings": "shared mappings have no organization",
    "whatsapp_numbers": "webhooks are routed by Meta's global phone_number_id (its one verified "
                        "row) before an organization is known",
    "number_flow_configs": "read with whatsapp_numbers, by the same phone_number_id",
    **dict.fromkeys(("categories", "sub_categories", "products"),
                    "the shared catalog has no organization (crm.0037)"),
}
# Primary keys of distributed tables: single-node PostgreSQL keeps wb-crm's keys; distributing a
# table replaces its key by one led by organization_id (docs/SCALING.md, "Keys that change").
PRIMARY_KEYS_CHANGE = {
    "customers_pkey", "messages_pkey", "campaigns_pkey", "jobs_pkey", "job_status_pkey",
    "orders_pkey", "order_items_pkey", "payments_pkey", "payment_transactions_pkey",
    "referrer_tracking_pkey", "customer_addresses_pkey", "address_collection_sessions_pkey",
    "campaign_recipients_pkey", "quick_replies_pkey", "leads_pkey", "flow_logs_pkey",
    "campaign_logs_pkey", "whatsapp_api_logs_pkey", "zoho_payload_logs_pkey",
    "campaign_customers_pkey", "automation_rules_pkey", "automation_runs_pkey",
    "automation_schedules_pkey", "flows_pkey", "flow_sessions_pkey",
    "labels_pkey", "customer_labels_pkey", "attribute_definitions_pkey",
    "conversation_notes_pkey",
    "contact_imports_pkey", "segments_pkey",
    "webhook_subscriptions_pkey", "webhook_deliveries_pkey",
    "integration_credentials_pkey",
    "payment_events_pkey",
    "daily_message_stats_pkey", "campaign_funnels_pkey", "response_times_pkey",
    "response_time_counts_pkey",
    "invitations_pkey", "audit_events_pkey",
    "organization_exports_pkey",
    "conversation_resolutions_pkey",
}
DISTRIBUTED = {m._meta.db_table for m in tenant_models()} - set(REFERENCE_TABLES)


def test_every_tenant_table_is_either_distributed_or_a_listed_reference_table() -> None:
    """A new tenant table is distributed (and checked below) unless listed with a reason."""
    assert set(REFERENCE_TABLES) <= {m._meta.db_table for m in tenant_models()}
    assert {"customers", "messages", "orders", "campaigns"} <= DISTRIBUTED


@pytest.mark.django_db
def test_unique_indexes_of_distributed_tables_lead_with_organization_id() -> None:
    with connection.cursor() as cursor:  # the catalog, not tenant rows
        cursor.execute(
            "SELECT t.relname, i.relname, x.indisprimary, a.attname "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] "
            "WHERE x.indisunique AND t.relname = ANY(%s)", [sorted(DISTRIBUTED)],
        )
        rows = cursor.fetchall()
    assert {table for table, *_ in rows} == DISTRIBUTED
    wrong = [
        f"{table}.{index} leads with {first}"
        for table, index, primary, first in rows
        if first != "organization_id" and not (primary and index in PRIMARY_KEYS_CHANGE)
    ]
    assert not wrong, "unique indexes a distributed table cannot keep: " + "; ".join(wrong)
    primaries = {index for _, index, primary, _ in rows if primary}
    assert primaries == PRIMARY_KEYS_CHANGE


def test_model_uniques_of_distributed_tables_lead_with_organization() -> None:
    """Meta constraints and unique fields, so a model change is caught before its migration."""
    wrong = []
    for model in tenant_models():
        if model._meta.db_table not in DISTRIBUTED:
            continue
        for constraint in model._meta.constraints:
            fields = list(getattr(constraint, "fields", ()))
            if fields and fields[0] != "organization":
                wrong.append(f"{model._meta.label}: {constraint.name}")
        for field in model._meta.local_fields:
            if field.unique and not field.primary_key:
                wrong.append(f"{model._meta.label}.{field.name} is unique on its own")
        for together in model._meta.unique_together:
            if together[0] != "organization":
                wrong.append(f"{model._meta.label}: unique_together {together}")
    assert not wrong, "; ".join(wrong)


def test_scaling_doc_lists_the_same_exceptions() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "SCALING.md").read_text()
    for table in REFERENCE_TABLES:
        assert f"`{table}`" in doc, table

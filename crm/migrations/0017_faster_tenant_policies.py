"""Tenant policies, version 2 (tenancy.rls.OWN_ROWS): cheaper per statement and per row.

The organization is compared first and read from the setting in the policy itself, not through
PL/pgSQL; same guarantees. Every tenant table of crm.0014 and crm.0015, listed here,
not read from the models. Backwards restores version 1.
"""
from django.db import migrations

from tenancy.operations import LockTablesFirst, ReplaceTenantPolicies

TABLES = [
    "users", "api_tokens", "customers", "whatsapp_numbers", "messages", "campaigns", "jobs",
    "job_status", "orders", "order_items", "payments", "payment_transactions",
    "referrer_tracking", "customer_addresses", "address_collection_sessions",
    "campaign_recipients", "quick_replies", "leads", "flow_logs", "campaign_logs",
    "whatsapp_api_logs", "zoho_payload_logs", "number_flow_configs", "campaign_customers",
]
SHARED_TABLES = ["templates", "zoho_mappings"]


class Migration(migrations.Migration):

    dependencies = [("crm", "0016_campaign_personalisation")]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst(*TABLES, *SHARED_TABLES),
        *(ReplaceTenantPolicies(table, 2, 1) for table in TABLES),
        *(ReplaceTenantPolicies(table, 2, 1, shared_rows=True) for table in SHARED_TABLES),
    ]

"""Row-level security on every tenant table (PostgreSQL; nothing on SQLite).

Runs last, as the owner, after the takeover: each table gets ENABLE + FORCE ROW LEVEL SECURITY and
the tenant policies (see tenancy.rls). Backwards removes them. The tables are listed here, not read
from the models: a migration must not change when the models do.
"""
from django.db import migrations

from tenancy.operations import EnableRowLevelSecurity, InstallTenantFunctions, LockTablesFirst

TABLES = [
    "users", "api_tokens", "customers", "whatsapp_numbers", "messages", "campaigns", "jobs",
    "job_status", "orders", "order_items", "payments", "payment_transactions",
    "referrer_tracking", "customer_addresses", "address_collection_sessions",
    "campaign_recipients", "quick_replies", "leads", "flow_logs", "campaign_logs",
    "whatsapp_api_logs", "zoho_payload_logs", "number_flow_configs",
]
# Rows with no organization are shared: read by every organization, written only in unscoped().
SHARED_TABLES = ["templates", "zoho_mappings"]


class Migration(migrations.Migration):

    dependencies = [("crm", "0013_inbox")]

    operations = [
        # wb-crm may still be writing these (a takeover): all locks at once, no deadlock.
        LockTablesFirst(*TABLES, *SHARED_TABLES),
        InstallTenantFunctions(),
        *(EnableRowLevelSecurity(table) for table in TABLES),
        *(EnableRowLevelSecurity(table, shared_rows=True) for table in SHARED_TABLES),
    ]

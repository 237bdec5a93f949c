"""Build a pre-tenancy wb-crm database of a chosen scale, set-based on the server.

    python bench/generate.py --database wbcrm_large --scale large
    python bench/generate.py --database wbcrm_inbox --scale large --organizations 1

`--organizations N` spreads the same rows over N organizations (1: one organization holds all
200,000 customers and 3,000,000 messages, the inbox benchmark's case). A third of the messages
are the organization's replies (sender_type "agent"), the rest the customers'.

Rows are produced by INSERT ... SELECT over generate_series inside PostgreSQL (no row crosses the
wire, nothing goes through the ORM); keys are deterministic (md5 of a kind and a number), so
children point at their parents without lookups. Some rows cannot be derived on purpose: customers
without organization, messages without customer, leads whose wa_id matches nobody, API logs
without campaign or job, flow logs of unknown wa_ids.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import psycopg2

DUMP = Path(__file__).resolve().parent.parent / "tests/fixtures/legacy/wbcrm_pre_tenancy.sql"

# Row counts at scale "large"; other scales divide them.
LARGE = {
    "organizations": 200, "users": 1_000, "customers": 200_000, "messages": 3_000_000,
    "orders": 300_000, "order_items": 600_000, "payments": 300_000,
    "payment_transactions": 150_000, "job_status": 200_000, "campaigns": 2_000, "jobs": 4_000,
    "campaign_recipients": 200_000, "campaign_logs": 400_000, "whatsapp_api_logs": 400_000,
    "referrer_tracking": 100_000, "customer_addresses": 200_000,
    "address_collection_sessions": 50_000, "quick_replies": 2_000, "leads": 100_000,
    "flow_logs": 300_000, "zoho_payload_logs": 100_000, "whatsapp_numbers": 400,
    "number_flow_configs": 300, "templates": 100, "zoho_mappings": 100,
}
# passlib-style bcrypt of "bench-password" (cost 4: cheap to check in benchmarks).
PASSWORD_HASH = "$2b$04$UYhQVE4J7tew0ZwgQw9/n.vXlEwly282OsAuS2tpaVeh1II4lpugy"
SCALES = {"tiny": 1000, "small": 100, "medium": 10, "large": 1}


def uid(kind: str, expr: str) -> str:
    """A deterministic UUID for row number `expr` of `kind`."""
    return f"md5('{kind}' || ({expr}))::uuid"


def statements(n: dict[str, int]) -> list[tuple[str, str]]:
    """(table, INSERT ... SELECT) in dependency order."""
    def ref(kind: str, table: str, expr: str = "i") -> str:
        """The key of a `table` row picked by row number `expr` (wrapping around)."""
        return uid(kind, f"({expr}) % {n[table]}")

    def org(expr: str) -> str:
        return ref("org", "organizations", expr)

    def cust(expr: str) -> str:
        return ref("cust", "customers", expr)

    ts = "timestamp '2024-01-01' + (i || ' seconds')::interval"
    return [
        ("roles", "INSERT INTO roles SELECT md5('role'||i)::uuid, r, initcap(r), NULL, true, "
         "now(), now() "
         "FROM unnest(ARRAY['SUPER_ADMIN','ORG_ADMIN','AGENT']) WITH ORDINALITY AS t(r, i)"),
        ("organizations", f"INSERT INTO organizations SELECT {uid('org', 'i')}, 'Org ' || i, "
         f"'org' || i, 'org-' || i, NULL, true, {ts}, {ts} "
         f"FROM generate_series(0, {n['organizations']} - 1) i"),
        ("users", f"INSERT INTO users SELECT {uid('user', 'i')}, 'user' || i, "
         f"'{PASSWORD_HASH}', 'First', 'Last', "
         f"'90000' || i, 'user' || i || '@example.com', 'AGENT', {org('i')}, NULL, {ts}, {ts} "
         f"FROM generate_series(0, {n['users']} - 1) i"),
        ("customers", f"INSERT INTO customers SELECT {uid('cust', 'i')}, (919000000000 + i)::text,"
         f" 'Customer ' || i, NULL, NULL, NULL, NULL, {ts}, {ts}, NULL, 'text', NULL, NULL, "
         f"CASE WHEN i % 200 = 199 THEN NULL ELSE {org('i')} END, 'open' "
         f"FROM generate_series(0, {n['customers']} - 1) i"),
        ("whatsapp_numbers", f"INSERT INTO whatsapp_numbers SELECT {uid('wn', 'i')}, "
         f"'10' || (100000 + i), '+91 ' || i, 'EAAG' || i, '/wh/' || i, {org('i')}, true, {ts}, "
         f"{ts} FROM generate_series(0, {n['whatsapp_numbers']} - 1) i"),
        ("number_flow_configs", f"INSERT INTO number_flow_configs SELECT {uid('nfc', 'i')}, "
         f"CASE WHEN i % 50 = 49 THEN 'unknown' || i ELSE '10' || (100000 + i) END, '+91 ' || i, "
         f"'91' || i, 'flow', 'Flow', NULL, 0, true, NULL, NULL, {ts}, {ts} "
         f"FROM generate_series(0, {n['number_flow_configs']} - 1) i"),
        ("messages", "INSERT INTO messages (message_id, from_wa_id, to_wa_id, type, body, "
         "\"timestamp\", customer_id, sender_type) SELECT 'wamid.' || i, "
         f"(919000000000 + i % {n['customers']})::text, '15550001111', 'text', 'Hello ' || i, "
         f"{ts}, CASE WHEN i % 1000 = 999 THEN NULL ELSE {cust('i')} END, "
         "CASE WHEN i % 3 = 2 THEN 'agent' ELSE 'customer' END "
         f"FROM generate_series(0, {n['messages']} - 1) i"),
        ("campaigns", f"INSERT INTO campaigns SELECT {uid('camp', 'i')}, 'Campaign ' || i, NULL, "
         f"{ts}, {ts}, {ref('user', 'users')}, NULL, NULL, '{{}}', 'text', NULL, "
         f"'sent' FROM generate_series(0, {n['campaigns']} - 1) i"),
        ("jobs", f"INSERT INTO jobs SELECT {uid('job', 'i')}, "
         f"{ref('camp', 'campaigns')}, {ts}, NULL, {ts} "
         f"FROM generate_series(0, {n['jobs']} - 1) i"),
        ("job_status", f"INSERT INTO job_status SELECT {ref('job', 'jobs')}, "
         f"{cust('i')}, 'success' FROM generate_series(0, {n['job_status']} - 1) i"),
        ("customer_addresses", f"INSERT INTO customer_addresses SELECT {uid('addr', 'i')}, "
         f"{cust('i')}, 'Name', 'Street ' || i, 'Locality', 'City', 'State', '500001', NULL, "
         f"'9000000000', NULL, NULL, 'home', true, false, {ts}, {ts} "
         f"FROM generate_series(0, {n['customer_addresses']} - 1) i"),
        ("orders", f"INSERT INTO orders SELECT {uid('ord', 'i')}, "
         f"CASE WHEN i % 500 = 499 THEN NULL ELSE {cust('i')} END, 'cat', {ts}, NULL, "
         f"'paid', NULL, NULL FROM generate_series(0, {n['orders']} - 1) i"),
        ("order_items", "INSERT INTO order_items (order_id, product_retailer_id, quantity, price, "
         "total_price, item_price, currency, created_at, is_modification_addition) SELECT "
         f"{ref('ord', 'orders')}, 'sku' || i % 50, 1, 10, 10, 10, 'INR', {ts}, false "
         f"FROM generate_series(0, {n['order_items']} - 1) i"),
        ("payments", f"INSERT INTO payments SELECT {uid('pay', 'i')}, "
         f"{ref('ord', 'orders')}, 100, 'INR', 'rzp' || i, NULL, 'paid', true, {ts}, "
         f"{ts} FROM generate_series(0, {n['payments']} - 1) i"),
        ("payment_transactions", f"INSERT INTO payment_transactions SELECT {uid('ptx', 'i')}, "
         f"'tx' || i, {ref('ord', 'orders')}, 'upi', 'razorpay', 100, 'INR', "
         f"'paid', NULL, NULL, {ts}, {ts} "
         f"FROM generate_series(0, {n['payment_transactions']} - 1) i"),
        ("referrer_tracking", "INSERT INTO referrer_tracking (wa_id, center_name, created_at, "
         f"customer_id) SELECT (919000000000 + i % {n['customers']})::text, 'Center', {ts}, "
         f"{cust('i')} FROM generate_series(0, {n['referrer_tracking']} - 1) i"),
        ("address_collection_sessions", "INSERT INTO address_collection_sessions SELECT "
         f"{uid('acs', 'i')}, {cust('i')}, NULL, 'done', 'form', NULL, {ts}, NULL, NULL "
         f"FROM generate_series(0, {n['address_collection_sessions']} - 1) i"),
        ("templates", "INSERT INTO templates SELECT 'template_' || i, '{}', '[]', NULL, now(), "
         f"now() FROM generate_series(0, {n['templates']} - 1) i"),
        ("campaign_recipients", f"INSERT INTO campaign_recipients SELECT {uid('rcp', 'i')}, "
         f"{ref('camp', 'campaigns')}, '91' || i, 'Name', NULL, 'sent', {ts} "
         f"FROM generate_series(0, {n['campaign_recipients']} - 1) i"),
        ("quick_replies", f"INSERT INTO quick_replies SELECT {uid('qr', 'i')}, 'Reply ' || i, "
         f"'Text', NULL, {ref('user', 'users')}, {ts}, {ts} "
         f"FROM generate_series(0, {n['quick_replies']} - 1) i"),
        ("leads", f"INSERT INTO leads SELECT {uid('lead', 'i')}, 'zl' || i, 'First', NULL, NULL, "
         "'9000000000', NULL, NULL, NULL, NULL, NULL, "
         f"CASE WHEN i % 10 = 9 THEN 'unknown' || i "
         f"ELSE (919000000000 + i % {n['customers']})::text END, "
         f"CASE WHEN i % 2 = 0 THEN {cust('i')} END, NULL, NULL, NULL, NULL, NULL, {ts}, {ts} "
         f"FROM generate_series(0, {n['leads']} - 1) i"),
        ("zoho_mappings", f"INSERT INTO zoho_mappings SELECT {uid('zm', 'i')}, 'treatment ' || i, "
         f"'zoho', NULL, now(), now() FROM generate_series(0, {n['zoho_mappings']} - 1) i"),
        ("flow_logs", f"INSERT INTO flow_logs SELECT {uid('flow', 'i')}, "
         f"CASE WHEN i % 20 = 19 THEN 'unknown' ELSE (919000000000 + i % {n['customers']})::text "
         f"END, NULL, 'treatment', 'step', 200, NULL, NULL, {ts} "
         f"FROM generate_series(0, {n['flow_logs']} - 1) i"),
        ("campaign_logs", f"INSERT INTO campaign_logs SELECT {uid('clog', 'i')}, "
         f"{ref('camp', 'campaigns')}, NULL, 'customer', {cust('i')}, '91' || i, "
         f"'sent', NULL, NULL, NULL, 200, NULL, NULL, 10, {ts}, {ts}, 0, NULL "
         f"FROM generate_series(0, {n['campaign_logs']} - 1) i"),
        ("whatsapp_api_logs", f"INSERT INTO whatsapp_api_logs SELECT {uid('wal', 'i')}, "
         f"CASE WHEN i % 3 = 0 THEN NULL ELSE {ref('camp', 'campaigns')} END, "
         f"CASE WHEN i % 30 = 0 THEN NULL ELSE {ref('job', 'jobs')} END, '91' || i, "
         f"'/messages', NULL, NULL, 200, NULL, NULL, NULL, NULL, NULL, {ts}, {ts}, 10, {ts} "
         f"FROM generate_series(0, {n['whatsapp_api_logs']} - 1) i"),
        ("zoho_payload_logs", "INSERT INTO zoho_payload_logs (wa_id, lead_id, payload, status, "
         f"created_at) SELECT (919000000000 + i % {n['customers']})::text, 'l' || i, NULL, 'ok', "
         f"{ts} FROM generate_series(0, {n['zoho_payload_logs']} - 1) i"),
    ]


def recreate_database(name: str, host: str, user: str, template: str | None = None) -> None:
    """Drop `name` if it exists and create it empty, or as a copy of `template`."""
    admin = psycopg2.connect(host=host, user=user, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        cursor.execute(f'CREATE DATABASE "{name}"{copy}')
    admin.close()


def generate(database: str, scale: str, host: str, user: str,
             organizations: int | None = None) -> None:
    """Create `database` (dropping it first) and fill it."""
    counts = {table: max(4, rows // SCALES[scale]) for table, rows in LARGE.items()}
    if organizations:
        counts["organizations"] = organizations
    recreate_database(database, host, user)
    connection = psycopg2.connect(host=host, user=user, dbname=database)
    connection.autocommit = True
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(DUMP.read_text())
        cursor.execute("SET search_path = public")
        for table, sql in statements(counts):
            t0 = time.monotonic()
            cursor.execute(sql)
            print(f"{table:<28} {cursor.rowcount:>10,} rows  {time.monotonic() - t0:6.1f}s",
                  flush=True)
        t0 = time.monotonic()
        cursor.execute("VACUUM ANALYZE")
        print(f"{'VACUUM ANALYZE':<28} {'':>10}       {time.monotonic() - t0:6.1f}s")
    connection.close()
    print(f"built {database} at scale {scale} in {time.monotonic() - started:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="wbcrm_bench_large")
    parser.add_argument("--scale", choices=SCALES, default="large")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--organizations", type=int, default=None,
                        help="spread the rows over this many organizations (default: the scale's)")
    args = parser.parse_args()
    generate(args.database, args.scale, args.host, args.user, args.organizations)


if __name__ == "__main__":
    main()

"""Export benchmark: 200,000 customers streamed as CSV and as XLSX, with peak memory.

    python bench/contacts_export.py                  # fresh database, 200,000 customers
    python bench/contacts_export.py --customers 50000

The export runs as the API streams it (crm.imports.exports.stream, consumed in this process):
prints each format's time, size, and the process's peak resident memory (getrusage) before and
after: flat memory leaves the peak where it was, whatever the row count.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import resource
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from contacts_import import django_setup, fresh  # noqa: E402


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux: kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(organization: Any, count: int) -> None:
    """`count` customers, set-based (bench data, not app code)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers (id, organization_id, wa_id, name, email, customer_status, "
            "created_at, last_message_at) SELECT gen_random_uuid(), %s, (919000000000 + i)::text, "
            "'Customer ' || i, 'c' || i || '@example.com', 'open', now(), now() "
            "FROM generate_series(1, %s) i", [organization.pk, count])
        cursor.execute("ANALYZE customers")


def export(organization: Any, fmt: str, user: Any) -> dict[str, Any]:
    """Stream the customers export to nowhere; time, bytes and memory."""
    from crm.imports import exports
    from tenancy.context import tenant_context

    with tenant_context(organization):
        table = exports.customers(user)
        chunks = exports.stream(table, fmt)
    before = peak_rss_mb()
    started = time.perf_counter()
    size = sum(len(chunk) for chunk in chunks)
    seconds = time.perf_counter() - started
    return {"format": fmt, "seconds": round(seconds, 1), "bytes": size,
            "peak_rss_before_mb": round(before, 1), "peak_rss_after_mb": round(peak_rss_mb(), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="wbcrm_bench_exports")
    parser.add_argument("--customers", type=int, default=200_000)
    args = parser.parse_args()
    django_setup(args.database)
    organization = fresh(args.database)
    seed(organization, args.customers)
    from tenancy.context import tenant_context
    from tests.factories import UserFactory

    with tenant_context(organization):
        admin = UserFactory(org_admin=True, username="bench-exporter")
    print(f"{args.customers:,} customers; load {os.getloadavg()[0]:.1f}")
    for fmt in ("csv", "xlsx"):
        print(export(organization, fmt, admin), flush=True)


if __name__ == "__main__":
    main()

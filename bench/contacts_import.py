"""Contact import benchmark: a 100,000-row CSV into one organization, then the same file again.

    python bench/contacts_import.py                  # fresh database, migrate, measure
    python bench/contacts_import.py --rows 100000 --existing 50000

A fresh database (--database) is migrated; --existing of the file's numbers are customers
already (they are updated, the rest created), and one row in 50 is not a valid number. The
import runs as the Celery job's body does (crm.imports.services.run_import, in this process):
prints its time, rows per second and the counts, then the second run's (nothing changes).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from generate import recreate_database  # noqa: E402


def django_setup(database: str) -> None:
    """Configure Django on the benchmark database."""
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-key")  # DEBUG off: crm.settings needs a key
    os.environ.setdefault("FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")
    import django

    django.setup()


def fresh(database: str) -> Any:
    """A migrated empty database with one organization; returns the organization."""
    recreate_database(database, "127.0.0.1", "postgres")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True,
                   env={**os.environ})
    from tests.factories import OrganizationFactory

    return OrganizationFactory(code="bench-imports")


def csv_file(rows: int) -> bytes:
    """Name, Phone and City columns; Indian mobile numbers, one row in 50 invalid."""
    lines = ["Name,Phone,City"]
    for i in range(rows):
        phone = "12345" if i % 50 == 49 else f"9{i:09d}"
        lines.append(f"Customer {i},{phone},City {i % 100}")
    return ("\n".join(lines) + "\n").encode()


def existing(organization: Any, count: int) -> None:
    """`count` of the file's numbers are customers already, under older names."""
    from django.db import connection

    with connection.cursor() as cursor:  # set-based bench data, not app code
        cursor.execute(
            "INSERT INTO customers (id, organization_id, wa_id, name, customer_status, "
            "created_at) SELECT gen_random_uuid(), %s, '919' || lpad(i::text, 9, '0'), "
            "'Old ' || i, 'pending', now() FROM generate_series(0, %s - 1) i "
            "WHERE i %% 50 <> 49", [organization.pk, count])
        cursor.execute("ANALYZE customers")


def run_once(organization: Any, data: bytes) -> dict[str, Any]:
    """Store and run one import; its figures."""
    from crm.imports import services
    from crm.models import ContactImport
    from tenancy.context import tenant_context

    with tenant_context(organization):
        started = time.perf_counter()
        contact_import = ContactImport.objects.create(
            file_name="bench.csv", file_format="csv", data=data, mapping={"phone": "Phone"})
        services.run_import(contact_import)
        seconds = time.perf_counter() - started
        contact_import.refresh_from_db()
    return {"seconds": round(seconds, 2), "status": contact_import.status,
            "rows": contact_import.total_rows,
            "rows_per_second": round(contact_import.total_rows / seconds),
            "created": contact_import.created_count, "updated": contact_import.updated_count,
            "unchanged": contact_import.unchanged_count,
            "rejected": contact_import.rejected_count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="wbcrm_bench_imports")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=50_000)
    args = parser.parse_args()
    django_setup(args.database)
    organization = fresh(args.database)
    existing(organization, args.existing)
    data = csv_file(args.rows)
    print(f"file: {args.rows:,} rows, {len(data):,} bytes; load {os.getloadavg()[0]:.1f}")
    first = run_once(organization, data)
    print(f"first run:  {first}", flush=True)
    second = run_once(organization, data)
    print(f"second run: {second}", flush=True)
    verdict = "within" if first["seconds"] <= 60 else "OVER"
    print(f"{args.rows:,} rows imported in {first['seconds']} s ({verdict} the 60 s target)")


if __name__ == "__main__":
    main()

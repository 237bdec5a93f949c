"""The cost of row-level security: the same requests with the policies on and off, side by side.

    python bench/rls.py --scale medium --org org0

1. A generated pre-tenancy database, migrated ("on": every migration, so RLS on every tenant
   table) and copied, then migrated back to crm 0007 ("off": the policies removed), both
   served as the app role of `manage.py tenancy_roles` (no superuser, no BYPASSRLS).
2. API latency (gunicorn): list and detail of messages and customers, rounds alternating
   between the two servers; p95 on / off.
3. In process: the median time of the scoped messages list, runs alternating between the two.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate, recreate_database  # noqa: E402
from request_path import (  # noqa: E402
    ROOT, THREADS, WORKERS, Server, alternate, api_cases, inprocess, manage, sql,
)

APP = "wbcrm_bench_app"


def before_rls() -> str:
    """The crm migration that crm's row-level security migration follows."""
    migration = next((ROOT / "crm" / "migrations").glob("*_row_level_security.py"))
    found = re.search(r'dependencies = \[\("crm", "([^"]+)"\)\]', migration.read_text())
    assert found, f"{migration.name} names no crm dependency"
    return found[1]


def prepare(base: str, scale: str, org: str) -> tuple[str, str, str]:
    """(on db, off db, organization id)."""
    generate(base, scale, "127.0.0.1", "postgres")
    on, off = f"{base}_rls_on", f"{base}_rls_off"
    recreate_database(on, "127.0.0.1", "postgres", template=base)
    started = time.monotonic()
    manage(on, "migrate", "--fake-initial", "--no-input")
    print(f"migrated {on} in {time.monotonic() - started:.0f}s")
    recreate_database(off, "127.0.0.1", "postgres", template=on)
    manage(off, "migrate", "crm", before_rls(), "--no-input")  # backwards: the policies go
    for db in (on, off):
        manage(db, "tenancy_roles", "--owner", "postgres", "--app", APP)
        sql(db, "VACUUM ANALYZE", fetch=False)
    policies = {db: sql(db, "SELECT count(*) FROM pg_policy")[0][0] for db in (on, off)}
    print(f"policies: on {policies[on]}, off {policies[off]}")
    return on, off, sql(on, "SELECT id::text FROM organizations WHERE code = %s", (org,))[0][0]


def api(dbs: dict[str, str], org: str, org_id: str, requests: int) -> None:
    """API latency with RLS on and off, rounds alternating between the two servers."""
    cases = {label: api_cases(db, org_id, inprocess(db, "setup", org, user=APP).strip(),
                              requests)
             for label, db in dbs.items()}
    with Server(dbs["on"], user=APP) as on_server, Server(dbs["off"], user=APP) as off_server:
        results = alternate({"on": on_server, "off": off_server}, cases, requests)
    print(f"\nAPI latency (gunicorn, {WORKERS} workers x {THREADS} threads, concurrency 4)")
    for case in cases["on"]:
        for label in dbs:
            print(f"  {case:<17} RLS {label:<4} {results[(case, label)].summary()}")
        ratio = results[(case, "on")].percentile(95) / results[(case, "off")].percentile(95)
        print(f"  {case:<17} p95 on / off = {ratio:.2f}")


def scoped_list(dbs: dict[str, str], org: str, runs: int) -> None:
    """The in-process scoped messages list, runs alternating between the two databases."""
    timings: dict[str, list[float]] = {label: [] for label in dbs}
    for _ in range(runs):
        for label, db in dbs.items():
            timings[label].append(float(inprocess(db, "scoped", org, user=APP)))
    medians = {label: sorted(values)[len(values) // 2] for label, values in timings.items()}
    print("\nScoped messages list, in process (median of medians)")
    for label, seconds in medians.items():
        print(f"  RLS {label:<4} {seconds * 1000:7.2f} ms/request")
    print(f"  on / off = {medians['on'] / medians['off']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="wbcrm_bench_rls")
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--org", default="org0")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="reuse the prepared databases")
    parser.add_argument("--parts", default="api,inprocess")
    args = parser.parse_args()
    if args.reuse:
        on, off = f"{args.database}_rls_on", f"{args.database}_rls_off"
        org_id = sql(on, "SELECT id::text FROM organizations WHERE code = %s", (args.org,))[0][0]
    else:
        on, off, org_id = prepare(args.database, args.scale, args.org)
    dbs = {"on": on, "off": off}
    parts = set(args.parts.split(","))
    if "api" in parts:
        api(dbs, args.org, org_id, args.requests)
    if "inprocess" in parts:
        scoped_list(dbs, args.org, args.runs)


if __name__ == "__main__":
    main()

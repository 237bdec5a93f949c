"""The cost of row-level security: the same requests with the policies on and off, side by side.

    python bench/rls.py --scale medium --org org0

1. A generated pre-tenancy database, migrated ("on": every migration, so RLS on every tenant
   table) and copied, then migrated back to crm 0007 ("off": the policies removed), both
   served as the app role of `manage.py tenancy_roles` (no superuser, no BYPASSRLS).
2. API latency (gunicorn): list and detail of messages and customers, each client sending to
   the two servers in turn (`load.run_interleaved`); p95 on / off.
3. In process: the scoped messages list, one process holding a connection to each database and
   alternating requests one by one between them (`bench/inprocess.py paired`).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate, recreate_database  # noqa: E402
from load import run_interleaved  # noqa: E402
from request_path import (  # noqa: E402
    ROOT, THREADS, Server, api_cases, inprocess, manage, sql,
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
    """API latency with RLS on and off, every client sending to the two servers in turn."""
    cases = {label: api_cases(db, org_id, inprocess(db, "setup", org, user=APP).strip(),
                              requests)
             for label, db in dbs.items()}
    # One worker process per server: with two, a server's four keep-alive connections split
    # 2/2, 3/1 or 4/0 between its processes by chance, and the p95 followed that split (0.81 to
    # 1.33 on / off in one run), not the policies.
    print(f"\nAPI latency (gunicorn, 1 worker x {THREADS} threads per server; "
          "4 clients, each alternating between the servers)")
    with Server(dbs["on"], user=APP, workers="1") as on_server, \
            Server(dbs["off"], user=APP, workers="1") as off_server:
        ports = {"on": on_server.port, "off": off_server.port}
        for case in cases["on"]:
            run_interleaved({label: (ports[label], cases[label][case][:100]) for label in dbs},
                            4)  # warm-up
            results = run_interleaved(
                {label: (ports[label], cases[label][case]) for label in dbs}, 4)
            for label in dbs:
                print(f"  {case:<17} RLS {label:<4} {results[label].summary()}")
            ratio = results["on"].percentile(95) / results["off"].percentile(95)
            print(f"  {case:<17} p95 on / off = {ratio:.2f}")


def scoped_list(dbs: dict[str, str], org: str, runs: int) -> None:
    """The in-process scoped messages list, requests alternating one by one between the two."""
    print("\nScoped messages list, in process (bench/inprocess.py paired: 1500 pairs per run, "
          "requests alternating)")
    print(f"  {'run':<5}{'median on':>11}{'median off':>12}{'mean on':>9}{'mean off':>10}"
          f"{'in db on':>10}{'in db off':>11}{'pair ratio':>12}")
    ratios = []
    for number in range(runs):
        order = ["on", "off"] if number % 2 == 0 else ["off", "on"]  # each database leads in turn
        lines = inprocess(dbs[order[0]], "paired", org, user=APP,
                          env={"PAIRED_DATABASE": dbs[order[1]]}).split("\n")
        figures = {label: [float(x) for x in line.split()[1:]]
                   for label, line in zip(order, lines)}
        pair_ratio = float(lines[2].split()[1])
        ratio = pair_ratio if order[0] == "on" else 1 / pair_ratio
        ratios.append(ratio)
        on, off = figures["on"], figures["off"]
        print(f"  {number + 1:<5}{on[0]:>9.2f}ms{off[0]:>10.2f}ms{on[1]:>7.2f}ms{off[1]:>8.2f}ms"
              f"{on[2]:>8.2f}ms{off[2]:>9.2f}ms{ratio:>12.3f}")
    ratios.sort()
    print(f"  on / off (median of the runs' median pair ratios) = {ratios[len(ratios) // 2]:.3f}")


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

"""Migration benchmark: our `migrate --fake-initial` against hand-written reference SQL.

    python bench/generate.py --scale large --database wbcrm_bench_large   # once
    python bench/migration.py --template wbcrm_bench_large

Both run on a fresh copy of the template database. The reference is what PostgreSQL itself needs
for the same end state: every column added, one set-based UPDATE ... FROM per table in dependency
order, then the indexes and foreign keys (plain CREATE INDEX and ADD FOREIGN KEY, which block
writes while they run).
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
frozen = importlib.import_module("crm.migrations.0002_organization_id")
from generate import recreate_database  # noqa: E402


def reference_sql(table: str, derivations: list[tuple]) -> str:
    """One UPDATE ... FROM for the whole table."""
    if len(derivations) == 1 and derivations[0][0] == "parent":
        _, column, parent, key, _ = derivations[0]
        return (f"UPDATE {table} t SET organization_id = p.organization_id FROM {parent} p "
                f"WHERE p.{key} = t.{column} AND p.organization_id IS NOT NULL")
    derived = "COALESCE(" + ", ".join(frozen._derived_org_sql(d) for d in derivations) + ")"
    return (f"UPDATE {table} t SET organization_id = {derived} "
            f"WHERE {derived} IS NOT NULL")


def run_reference(db: str, host: str, user: str) -> dict[str, dict[str, float]]:
    """Seconds per table and phase for the reference SQL."""
    timings: dict[str, dict[str, float]] = defaultdict(dict)
    connection = psycopg2.connect(host=host, user=user, dbname=db)
    connection.autocommit = True
    with connection.cursor() as cursor:
        def timed(table: str, phase: str, sql: str) -> None:
            started = time.monotonic()
            cursor.execute(sql)
            timings[table][phase] = timings[table].get(phase, 0.0) + time.monotonic() - started

        for table, *_ in frozen.ADDED:
            timed(table, "column", f"ALTER TABLE {table} ADD COLUMN organization_id uuid")
        for table, _, _, derivations in frozen.TABLES:
            if derivations:
                timed(table, "update", reference_sql(table, derivations))
        for table, *_ in frozen.ADDED:
            timed(table, "index", f"CREATE INDEX ref_{table}_org ON {table} (organization_id)")
            timed(table, "fk", f"ALTER TABLE {table} ADD CONSTRAINT ref_{table}_org_fk FOREIGN "
                  "KEY (organization_id) REFERENCES organizations (id)")
    connection.close()
    return timings


LINE = {
    "backfill": re.compile(r"^  (\w+): \d+ rows derived, \d+ left NULL \(([\d.]+)s; "
                           r"longest batch ([\d.]+)s\)"),
    "index": re.compile(r"^  (\w+): indexed organization_id concurrently \(([\d.]+)s"),
    "fk": re.compile(r"^  (\w+): foreign key \w+ validated \(([\d.]+)s"),
}


def run_ours(db: str, host: str, user: str) -> tuple[float, dict[str, dict[str, float]], str]:
    """Wall time of `migrate crm 0002 --fake-initial`, seconds per table and phase, output."""
    env = {**os.environ, "DATABASE_URL": f"postgres://{user}@{host}:5432/{db}",
           "DJANGO_SETTINGS_MODULE": "crm.settings",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key"),
           "FIELD_ENCRYPTION_KEY": os.environ.get(
               "FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "manage.py", "migrate", "crm", "0002",
                           "--fake-initial", "--no-input"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    wall = time.monotonic() - started
    timings: dict[str, dict[str, float]] = defaultdict(dict)
    for line in done.stdout.splitlines():
        for phase, pattern in LINE.items():
            match = pattern.match(line)
            if match:
                timings[match[1]][phase] = float(match[2])
                if phase == "backfill":
                    timings[match[1]]["longest"] = float(match[3])
    return wall, timings, done.stdout


def row_counts(db: str, host: str, user: str) -> dict[str, int]:
    connection = psycopg2.connect(host=host, user=user, dbname=db)
    with connection.cursor() as cursor:
        counts = {}
        for table, *_ in frozen.TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
    connection.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="wbcrm_bench_large")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--user", default="postgres")
    args = parser.parse_args()
    ours_db, ref_db = f"{args.template}_ours", f"{args.template}_ref"
    for name in (ours_db, ref_db):
        recreate_database(name, args.host, args.user, template=args.template)
    counts = row_counts(args.template, args.host, args.user)

    started = time.monotonic()
    reference = run_reference(ref_db, args.host, args.user)
    reference_wall = time.monotonic() - started
    ours_wall, ours, _ = run_ours(ours_db, args.host, args.user)

    print(f"{'table':<28}{'rows':>10}{'ours s':>9}{'ref s':>9}{'ratio':>7}"
          f"{'ours rows/s':>13}{'ref rows/s':>12}{'longest':>9}")
    for table, *_ in frozen.TABLES:
        mine = sum(v for k, v in ours[table].items() if k != "longest")
        ref = sum(reference[table].values())
        rows = counts[table]
        print(f"{table:<28}{rows:>10,}{mine:>9.2f}{ref:>9.2f}"
              f"{(mine / ref if ref > 0.005 else float('nan')):>7.2f}"
              f"{(rows / mine if mine else 0):>13,.0f}{(rows / ref if ref else 0):>12,.0f}"
              f"{ours[table].get('longest', 0):>9.3f}")
    print(f"{'total (wall)':<28}{sum(counts.values()):>10,}{ours_wall:>9.2f}"
          f"{reference_wall:>9.2f}{ours_wall / reference_wall:>7.2f}")
    longest = ours["messages"].get("longest", 0.0)
    print(f"longest single backfill statement on messages: {longest:.3f}s "
          f"(index build {ours['messages'].get('index', 0):.2f}s and FK validation "
          f"{ours['messages'].get('fk', 0):.2f}s run without blocking writes)")


if __name__ == "__main__":
    main()

"""Taking over a wb-crm database while wb-crm keeps writing to it (issue 20, part 3).

A writer replaying wb-crm's own statements (tests/wbcrm_writer.py), logged in as wb-crm's role,
runs through `migrate --fake-initial` on the medium generated legacy database (bench/generate.py),
once uninterrupted and once SIGKILLed mid-backfill and rerun. Afterwards every row, the writer's
included, has the organization an oracle written here derives; the writer met no error, row-level
security included; and once wb-crm stops, `tenancy_enforce` succeeds and removes the cut-over.
The test waits on events (a statement parked on a lock, rounds the writer committed), never on
times. Databases and the role are named after the run (tests/settings.py RUN) and the worker.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator

import psycopg2
import psycopg2.errors
import pytest

from bench.generate import generate
from tests.legacy import (
    DB_PREFIX,
    MIGRATE,
    PG_DSN,
    PRE_TENANCY,
    REPO,
    Hold,
    _hold,
    _release,
    _wait_for_waiter,
    build_state,
    cursor,
    drop_database,
    execute,
    manage,
    manage_env,
    query,
    row_lock,
    table_lock,
    terminate_backends,
)
from tests.settings import RUN, WORKER
from tests.wbcrm_writer import ROWS_PER_ROUND, Targets, WbCrmWriter
from tenancy.roles import grant_legacy

pytestmark = pytest.mark.legacy

NAME = f"{RUN}_{WORKER}".lower()
ROLE = f"wbcrm_legacy_writer_{NAME}"
# Rounds the writer commits at each stage the test waits for (13 rows each).
ROUNDS = 10

# The organization each row must have, written independently of crm.0002's derivations:
# {table: SQL expression over row t}. Tables without derivation keep what they were given.
_CUSTOMER = "(SELECT c.organization_id FROM customers c WHERE c.id = t.customer_id)"
_BY_WA_ID = (
    "(SELECT CASE WHEN count(*) > 0 AND count(*) = count(c.organization_id) "
    "AND count(DISTINCT c.organization_id) = 1 THEN min(c.organization_id::text)::uuid END "
    "FROM customers c WHERE c.wa_id = t.wa_id)"
)
ORACLE = {
    **{table: _CUSTOMER for table in ("messages", "job_status", "orders", "referrer_tracking",
                                      "customer_addresses", "address_collection_sessions")},
    **{table: "(SELECT u.organization_id FROM users u WHERE u.id = t.created_by)"
       for table in ("campaigns", "quick_replies")},
    **{table: "(SELECT c.organization_id FROM campaigns c WHERE c.id = t.campaign_id)"
       for table in ("jobs", "campaign_recipients", "campaign_logs", "campaign_customers")},
    **{table: "(SELECT o.organization_id FROM orders o WHERE o.id = t.order_id)"
       for table in ("order_items", "payments", "payment_transactions")},
    "leads": f"CASE WHEN t.customer_id IS NOT NULL THEN {_CUSTOMER} ELSE {_BY_WA_ID} END",
    "flow_logs": _BY_WA_ID,
    "zoho_payload_logs": _BY_WA_ID,
    "whatsapp_api_logs": "coalesce((SELECT c.organization_id FROM campaigns c "
                         "WHERE c.id = t.campaign_id), (SELECT j.organization_id FROM jobs j "
                         "WHERE j.id = t.job_id))",
    "number_flow_configs": "(SELECT n.organization_id FROM whatsapp_numbers n "
                           "WHERE n.phone_number_id = t.phone_number_id)",
}
# Rows without organization stay so by design (platform staff, shared rows).
NULLABLE = ("users", "templates", "zoho_mappings")
# Dependency order for the operator's fix-up before tenancy_enforce.
FIX_ORDER = (
    "customers", "whatsapp_numbers", "messages", "campaigns", "jobs", "job_status", "orders",
    "order_items", "payments", "payment_transactions", "referrer_tracking", "customer_addresses",
    "address_collection_sessions", "campaign_recipients", "quick_replies", "leads", "flow_logs",
    "campaign_logs", "whatsapp_api_logs", "zoho_payload_logs", "number_flow_configs",
    "campaign_customers",
)


@pytest.fixture(scope="module")
def wbcrm_role() -> Iterator[str]:
    """wb-crm's own login: neither superuser nor BYPASSRLS, of this run and worker only."""
    with cursor("postgres") as cur:
        cur.execute(f'CREATE ROLE "{ROLE}" LOGIN NOSUPERUSER NOBYPASSRLS')
    try:
        yield ROLE
    finally:
        with cursor("postgres") as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{ROLE}"')


@pytest.fixture(scope="module")
def medium(wbcrm_role: str) -> Iterator[str]:
    """The medium pre-tenancy database (bench/generate.py), wb-crm's role granted its tables."""
    name = f"{DB_PREFIX}live_{NAME}"
    generate(name, "medium", PG_DSN["host"], PG_DSN["user"])
    try:
        with cursor(name) as cur:
            grant_legacy(cur, wbcrm_role, PG_DSN["user"])
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def database(medium: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A copy of the medium database for one test."""
    name = f"{DB_PREFIX}live_{NAME}_{zlib.crc32(request.node.name.encode()):08x}"
    with cursor("postgres") as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{medium}"')
    try:
        yield name
    finally:
        drop_database(name)


class Migrate:
    """`manage.py migrate --fake-initial` in the background, its output collected."""

    def __init__(self, dbname: str) -> None:
        env = manage_env(dbname, batch_size=1000, TENANCY_LEGACY_ROLE=ROLE,
                         TENANCY_LOCK_TIMEOUT="120s")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", *MIGRATE], cwd=REPO, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout or ()),
                                       daemon=True)
        self.reader.start()

    def output(self) -> str:
        self.reader.join(timeout=30)
        return "".join(self.lines)

    def wait(self, timeout: float = 240) -> int:
        self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def park_in_backfill(dbname: str, run: Migrate) -> psycopg2.extensions.connection:
    """Hold the run inside messages' backfill (columns added, triggers installed) and return the
    session holding it there. Each lock is taken once the run waits at a statement past every
    earlier DDL on that lock's table, so none of them queues behind the run's own DDL."""
    middle = query(dbname, "SELECT id FROM messages ORDER BY id OFFSET "
                   "(SELECT count(*) / 2 FROM messages) LIMIT 1")[0][0]
    holds: list[Hold] = [
        # The last column: messages' is added, its trigger not yet.
        table_lock("number_flow_configs", r"ALTER TABLE number_flow_configs ADD COLUMN"),
        # The second trigger: messages' is installed.
        table_lock("campaigns", r"TRIGGER wbcrm_takeover_organization .*public\.campaigns "),
        # A row of messages' backfill.
        row_lock("messages", str(middle), r"UPDATE messages t SET organization_id"),
    ]
    holder = _hold(dbname, holds[0])
    try:
        for i, hold in enumerate(holds):
            _wait_for_waiter(dbname, run.proc, holder.get_backend_pid(), hold)
            if i + 1 < len(holds):
                previous, holder = holder, _hold(dbname, holds[i + 1])
                _release(previous)
    except AssertionError as error:
        _release(holder)
        raise AssertionError(f"{error}\n{run.output()}") from None
    return holder


def cutover_objects(dbname: str) -> tuple[int, int, int]:
    """(triggers, functions, policies) of the cut-over still installed."""
    return query(dbname, """
        SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'wbcrm_takeover_organization'),
               (SELECT count(*) FROM pg_proc WHERE starts_with(proname, 'wbcrm_takeover_')),
               (SELECT count(*) FROM pg_policy WHERE polname = 'wbcrm_legacy_cutover')""")[0]


def wrong_organizations(dbname: str) -> dict[str, list]:
    """{table: example keys} of rows whose organization differs from the oracle's."""
    wrong = {}
    for table, expected in ORACLE.items():
        key = {"job_status": "t.job_id::text || '|' || t.customer_id::text",
               "campaign_customers": "t.campaign_id::text || '|' || t.customer_id::text",
               }.get(table, "t.id::text")
        rows = query(dbname, f"SELECT {key} FROM {table} t "
                             f"WHERE t.organization_id IS DISTINCT FROM {expected} LIMIT 5")
        if rows:
            wrong[table] = [r[0] for r in rows]
    return wrong


def check_writer_rows(dbname: str, writer: WbCrmWriter) -> None:
    """The writer's rows: customers as wb-crm wrote them (no derivation), every other row with
    the organization of the legacy customer or campaign it belongs to."""
    keys = writer.written.keys
    for table, written in keys.items():
        if table in ("customers", "old_messages"):
            continue
        columns = {"messages": "id", "campaign_customers": "customer_id::text"}
        column = columns.get(table, "id::text")
        rows = query(dbname, f"SELECT count(*), count(organization_id) FROM {table} "
                             f"WHERE {column} = ANY(%s)", [written])
        assert rows == [(len(written), len(written))], (table, rows)
    new = query(dbname, "SELECT count(*) FROM customers WHERE id::text = ANY(%s) "
                "AND organization_id IS NULL", [keys["customers"]])
    assert new == [(len(keys["customers"]),)]


def fix_and_enforce(dbname: str) -> None:
    """The operator's part once wb-crm has stopped: rows tenancy_audit lists get an
    organization (here: derived where the trigger can, else the first organization), then
    tenancy_enforce, which must succeed and remove the cut-over."""
    org = query(dbname, "SELECT id::text FROM organizations ORDER BY id LIMIT 1")[0][0]
    with cursor(dbname) as cur:
        for table in FIX_ORDER:
            # A no-op update re-derives through the trigger, now that parents are fixed.
            cur.execute(f"UPDATE {table} SET organization_id = organization_id "
                        "WHERE organization_id IS NULL")
            cur.execute(f"UPDATE {table} SET organization_id = %s WHERE organization_id IS NULL",
                        [org])
    enforced = manage(dbname, "tenancy_enforce", timeout=240)
    assert enforced.returncode == 0, enforced.stdout + enforced.stderr
    assert "cut-over removed" in enforced.stdout
    assert cutover_objects(dbname) == (0, 0, 0)
    # wb-crm's login has lost its grants with its policies.
    conn = psycopg2.connect(dbname=dbname, user=ROLE, host=PG_DSN["host"], port=PG_DSN["port"])
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT count(*) FROM messages")
    finally:
        conn.close()


def finish(dbname: str, writer: WbCrmWriter, run: Migrate) -> None:
    """After a successful migrate: more writes under row-level security, then every check."""
    # A trigger and its function per derived table; the policy on every table under row-level
    # security (the port's too: its triggers on messages write report rows as wb-crm's role).
    forced = query(dbname, "SELECT count(*) FROM pg_class WHERE relforcerowsecurity")[0][0]
    # (crm.0015 adds campaign_customers' to crm.0002's 19.)
    assert cutover_objects(dbname) == (20, 20, forced)
    assert query(dbname, "SELECT count(*) FROM pg_class WHERE relname = 'messages' "
                 "AND relrowsecurity AND relforcerowsecurity") == [(1,)]
    writer.wait_rounds(ROUNDS)
    rate = writer.stop()
    print(f"writer: {writer.rounds} rounds, {writer.rounds * ROWS_PER_ROUND} rows, "
          f"{rate:.0f} rows/s")
    assert writer.errors == []
    wrong = wrong_organizations(dbname)
    assert wrong == {}, f"{wrong}\n{run.output()[-3000:]}"
    check_writer_rows(dbname, writer)
    fix_and_enforce(dbname)


def test_wbcrm_writes_through_migrate(database: str, wbcrm_role: str) -> None:
    """wb-crm writes before, during (parked in messages' backfill) and after migrate."""
    writer = WbCrmWriter(database, wbcrm_role, Targets.pick(database))
    writer.start()
    try:
        writer.wait_rounds(ROUNDS)
        run = Migrate(database)
        holder = park_in_backfill(database, run)
        writer.wait_rounds(ROUNDS)
        _release(holder)
        assert run.wait() == 0, run.output()
        assert "derivation triggers installed" in run.output()
        # The batch that waited for the held row overran the statement timeout: cut short and
        # redone smaller; the report gives each table's p99 and maximum.
        assert re.search(r"^  messages +\d+ statements +p99 [\d.]+s +max [\d.]+s +"
                         r"cut short [1-9]", run.output(), re.MULTILINE), run.output()
        finish(database, writer, run)
    finally:
        writer.stop()


def test_wbcrm_writes_through_a_killed_and_rerun_migrate(database: str, wbcrm_role: str) -> None:
    """migrate SIGKILLed in messages' backfill while wb-crm writes, then run again."""
    writer = WbCrmWriter(database, wbcrm_role, Targets.pick(database))
    writer.start()
    try:
        killed = Migrate(database)
        holder = park_in_backfill(database, killed)
        writer.wait_rounds(ROUNDS)
        killed.kill()
        # A crash ends the run's server session too; wb-crm's and the lock holder's stay.
        terminate_backends(database, keep=(writer.backend_pid, holder.get_backend_pid()))
        _release(holder)
        assert "messages: added organization_id" in killed.output()
        writer.wait_rounds(ROUNDS)
        rerun = Migrate(database)
        assert rerun.wait() == 0, rerun.output()
        finish(database, writer, rerun)
    finally:
        writer.stop()


def test_tenancy_roles_grants_wbcrm_login_its_tables(wbcrm_role: str) -> None:
    """`tenancy_roles --legacy`: wb-crm's login may write the tables it had and those the
    owner's migrations create later; a login that does not exist is refused, saying which."""
    app = f"wbcrm_legacy_app_{NAME}"
    name = f"{DB_PREFIX}roles_{NAME}"
    with cursor("postgres") as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        build_state(name, PRE_TENANCY)

        def tenancy_roles(legacy: str) -> subprocess.CompletedProcess[str]:
            return manage(name, "tenancy_roles", "--owner", PG_DSN["user"], "--app", app,
                          "--legacy", legacy)

        refused = tenancy_roles("no_such_login_" + NAME)
        assert refused.returncode != 0
        assert "name the login wb-crm connects with" in refused.stderr
        done = tenancy_roles(wbcrm_role)
        assert done.returncode == 0, done.stdout + done.stderr
        execute(name, "CREATE TABLE created_later (id int)")
        assert query(name, "SELECT has_table_privilege(%s, 'messages', 'INSERT'), "
                     "has_table_privilege(%s, 'created_later', 'UPDATE'), "
                     "has_sequence_privilege(%s, 'messages_id_seq', 'USAGE')",
                     [wbcrm_role] * 3) == [(True, True, True)]
    finally:
        drop_database(name)
        with cursor("postgres") as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{app}"')

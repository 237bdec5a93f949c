"""organization_id on the 21 tenant tables that lack it, backfilled by the documented derivations.

Everything is decided by reading the catalog, never by catching errors, so the migration is
idempotent: on a pre-tenancy database, after wb-crm's Alembic tenancy migration, half-way through
either, or after this migration was killed, a run ends in the same state. Each step commits on its
own (atomic = False) and no statement holds a lock on a large table for long:

1. the column on every table, where missing (instant; marked with a comment so backwards
   removes only ours);
   Then, on a database holding wb-crm's rows, before any backfill: a BEFORE INSERT OR UPDATE
   trigger per derived table, generated from the same derivations, so rows that the still
   running wb-crm writes get their organization. They stay until `tenancy_enforce` (run once
   wb-crm has stopped);
2. then table by table, in dependency order: the backfill of every row whose organization_id IS
   NULL, one set-based UPDATE per primary-key batch; the index, where no valid index leads with
   organization_id (CREATE INDEX CONCURRENTLY); the foreign key, where missing (NOT VALID, then
   VALIDATE: neither blocks writes for long); the count of rows left NULL, and why.

The derivations below are a frozen copy of the models' `tenant_derivation`: a migration must not
change when the models do. Any error stops the migration with that error.
"""
from __future__ import annotations

import math
import os
import sys
import time

from django.db import OperationalError, migrations, models, transaction
import django.db.models.deletion

MARKER = "added by crm.0002_organization_id"
# Batches are sized by time: each UPDATE should hold its row locks for about BATCH_SECONDS. The
# first batch of a table has BATCH_SIZE rows; then the size follows the measured time per row
# (next_batch_size), between BATCH_MIN and BATCH_MAX.
BATCH_SIZE = int(os.environ.get("TENANCY_BACKFILL_BATCH_SIZE", "1000"))
BATCH_SECONDS = float(os.environ.get("TENANCY_BACKFILL_BATCH_SECONDS", "0.2"))
BATCH_MIN = int(os.environ.get("TENANCY_BACKFILL_BATCH_MIN", str(min(BATCH_SIZE, 100))))
BATCH_MAX = int(os.environ.get("TENANCY_BACKFILL_BATCH_MAX", str(max(BATCH_SIZE, 50000))))
LOCK_TIMEOUT = os.environ.get("TENANCY_LOCK_TIMEOUT", "10s")
# No backfill statement may hold its row locks longer: one that overruns is cancelled
# (statement_timeout) and its range redone in a batch half the size. At BATCH_MIN rows it runs
# without the bound (a row locked by a long writer is waited for). 0 turns the bound off.
STATEMENT_SECONDS = float(os.environ.get("TENANCY_BACKFILL_STATEMENT_SECONDS", "1"))
QUERY_CANCELED = "57014"


def parent(column, table, key="id"):
    """The organization of the `table` row whose `key` equals our `column`."""
    return ("parent", column, table, key, None)


def customer_by_wa_id(unless=None):
    """The one organization of the customers with our wa_id; none when ambiguous."""
    return ("match", "wa_id", "customers", "wa_id", unless)


# (table, model name, primary-key columns, derivations tried in order); dependency order.
TABLES = [
    ("users", "user", ("id",), None),
    ("customers", "customer", ("id",), None),
    ("whatsapp_numbers", "whatsappnumber", ("id",), None),
    ("messages", "message", ("id",), [parent("customer_id", "customers")]),
    ("campaigns", "campaign", ("id",), [parent("created_by", "users")]),
    ("jobs", "job", ("id",), [parent("campaign_id", "campaigns")]),
    ("job_status", "jobstatus", ("job_id", "customer_id"), [parent("customer_id", "customers")]),
    ("orders", "order", ("id",), [parent("customer_id", "customers")]),
    ("order_items", "orderitem", ("id",), [parent("order_id", "orders")]),
    ("payments", "payment", ("id",), [parent("order_id", "orders")]),
    ("payment_transactions", "paymenttransaction", ("id",), [parent("order_id", "orders")]),
    ("referrer_tracking", "referrertracking", ("id",), [parent("customer_id", "customers")]),
    ("customer_addresses", "customeraddress", ("id",), [parent("customer_id", "customers")]),
    ("address_collection_sessions", "addresscollectionsession", ("id",),
     [parent("customer_id", "customers")]),
    ("templates", "template", ("template_name",), []),
    ("campaign_recipients", "campaignrecipient", ("id",), [parent("campaign_id", "campaigns")]),
    ("quick_replies", "quickreply", ("id",), [parent("created_by", "users")]),
    ("leads", "lead", ("id",),
     [parent("customer_id", "customers"), customer_by_wa_id(unless="customer_id")]),
    ("zoho_mappings", "zohomapping", ("id",), []),
    ("flow_logs", "flowlog", ("id",), [customer_by_wa_id()]),
    ("campaign_logs", "campaignlog", ("id",), [parent("campaign_id", "campaigns")]),
    ("whatsapp_api_logs", "whatsappapilog", ("id",),
     [parent("campaign_id", "campaigns"), parent("job_id", "jobs")]),
    ("zoho_payload_logs", "zohopayloadlog", ("id",), [customer_by_wa_id()]),
    ("number_flow_configs", "numberflowconfig", ("id",),
     [parent("phone_number_id", "whatsapp_numbers", "phone_number_id")]),
]
ADDED = [row for row in TABLES if row[3] is not None]


def _derived_org_sql(derivation, row="t", schema=""):
    """A scalar SQL expression over `row`: the organization this derivation gives, or NULL.

    `row` is the backfill's alias `t`, or the trigger's NEW; `schema` qualifies the parent table
    (the trigger functions pin their search_path)."""
    kind, column, table, key, unless = derivation
    if kind == "parent":
        return f"(SELECT p.organization_id FROM {schema}{table} p WHERE p.{key} = {row}.{column})"
    expr = (
        f"(SELECT min(p.organization_id::text)::uuid FROM {schema}{table} p "
        f"WHERE p.{key} = {row}.{column} "
        "HAVING count(*) = count(p.organization_id) AND count(DISTINCT p.organization_id) = 1)"
    )
    return f"(CASE WHEN {row}.{unless} IS NULL THEN {expr} END)" if unless else expr


# While wb-crm keeps writing during the takeover, each table with a derivation carries a trigger
# that derives the organization of every row written without one, from the same derivations as
# the backfill. tenancy_enforce removes them once wb-crm has stopped.
TRIGGER = "wbcrm_takeover_organization"
FUNCTION_PREFIX = "wbcrm_takeover_"


def trigger_sql(table, derivations):
    """The function and BEFORE INSERT OR UPDATE trigger deriving `table`'s organization."""
    function = f"public.{FUNCTION_PREFIX}{table}"
    derived = "COALESCE(" + ", ".join(
        _derived_org_sql(d, row="NEW", schema="public.") for d in derivations
    ) + ")"
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql "
        f"SET search_path = pg_catalog, pg_temp AS $$ BEGIN "
        f"NEW.organization_id := {derived}; RETURN NEW; END $$",
        # Rows that carry an organization (the port's, backfilled ones) never reach the function.
        # OR REPLACE takes the lock CREATE does (writes wait, row locks do not), never DROP's.
        f"CREATE OR REPLACE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE ON public.{table} "
        f"FOR EACH ROW WHEN (NEW.organization_id IS NULL) EXECUTE FUNCTION {function}()",
    ]


def drop_trigger_sql(table):
    """Statements removing `table`'s trigger and its function."""
    return [
        f"DROP TRIGGER IF EXISTS {TRIGGER} ON public.{table}",
        f"DROP FUNCTION IF EXISTS public.{FUNCTION_PREFIX}{table}()",
    ]


def _update_sql(table, pk, derivations):
    """One batch's UPDATE; `{batch}`: the primary-key range on `t`."""
    if len(derivations) == 1 and derivations[0][0] == "parent":
        _, column, parent_table, key, _ = derivations[0]
        # The common case, shaped like a plain UPDATE ... FROM: one range scan, one join.
        return (
            f"UPDATE {table} t SET organization_id = p.organization_id FROM {parent_table} p "
            f"WHERE {{batch}} AND t.organization_id IS NULL AND p.{key} = t.{column} "
            "AND p.organization_id IS NOT NULL"
        )
    derived = "COALESCE(" + ", ".join(_derived_org_sql(d) for d in derivations) + ")"
    # The derivation is evaluated in SET and again in WHERE (a few index look-ups per row). A
    # self-join on the key to evaluate it once was planned as a nested loop rescanning the whole
    # batch for every row: quadratic (whatsapp_api_logs at 1,940 rows/s on the large database).
    return (
        f"UPDATE {table} t SET organization_id = {derived} "
        f"WHERE {{batch}} AND t.organization_id IS NULL AND {derived} IS NOT NULL"
    )


def _reason_sql(derivation):
    """A SQL expression naming why this derivation gives no organization for row `t`."""
    kind, column, table, key, unless = derivation
    if kind == "parent":
        return (
            f"CASE WHEN t.{column} IS NULL THEN '{column} is NULL' "
            f"WHEN NOT EXISTS (SELECT 1 FROM {table} p WHERE p.{key} = t.{column}) "
            f"THEN '{column} points at no {table} row' "
            f"ELSE 'the {table} row has no organization' END"
        )
    matches = f"(SELECT count(*) FROM {table} p WHERE p.{key} = t.{column})"
    reason = (
        f"CASE WHEN t.{column} IS NULL THEN '{column} is NULL' "
        f"WHEN {matches} = 0 THEN 'no {table} row with this {column}' "
        f"ELSE '{column} matches {table} of several organizations, or one without' END"
    )
    return f"CASE WHEN t.{unless} IS NOT NULL THEN 'not tried: {unless} is set' ELSE {reason} END" \
        if unless else reason


def next_batch_size(size, seconds, before=None):
    """The next batch's size: the rows whose own work takes BATCH_SECONDS.

    A statement costs a fixed part (planning; hashing a parent table, before any row is locked)
    plus a part per row, and only the latter holds row locks. With `before`, the (size, seconds)
    of an earlier batch of a clearly different size, both parts are estimated; otherwise the
    whole time counts as per-row (the cautious reading). At most doubling or halving per batch.
    """
    per_row = seconds / size
    if before is not None and abs(before[0] - size) >= size / 4:
        per_row = min(max((seconds - before[1]) / (size - before[0]), 0.0), per_row)
    wanted = BATCH_SECONDS / per_row if per_row > 0 else size * 2
    wanted = min(max(wanted, size / 2), size * 2)
    return round(min(max(wanted, BATCH_MIN), BATCH_MAX))


class BatchSizer:
    """The size of each next batch of one table, from the times of the batches so far."""

    def __init__(self):
        self.size = BATCH_SIZE
        self.before = None  # the latest batch whose size differs enough to estimate from

    def measured(self, seconds):
        """The batch of `self.size` rows took `seconds`: choose the next size."""
        size = next_batch_size(self.size, seconds, self.before)
        if abs(size - self.size) >= size / 4:
            self.before = (self.size, seconds)
        self.size = size

    def overran(self):
        """The batch was cut short by the statement timeout: redo it half the size."""
        self.size = max(BATCH_MIN, self.size // 2)
        self.before = None


def percentile(values, share):
    """The value `share` (0..1) of the way up the sorted `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)] if ordered else 0.0


def _say(message):
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


class PostgresSteps:
    """The catalog-driven steps on one PostgreSQL connection."""

    def __init__(self, connection):
        self.connection = connection
        self.batch_times = []  # seconds of each backfill statement of the table now running
        self.cut_short = 0  # of those, statements cancelled by the timeout and redone smaller

    def fetch(self, sql, params=()):
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def run(self, *statements):
        """Run statements in one short transaction with a lock timeout."""
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [LOCK_TIMEOUT])
            for statement in statements:
                cursor.execute(statement)

    def run_outside_transaction(self, statement):
        """CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block."""
        with self.connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", [LOCK_TIMEOUT])
            cursor.execute(statement)
            cursor.execute("RESET lock_timeout")

    def column_comment(self, table):
        """(exists, comment) of t.organization_id."""
        rows = self.fetch(
            "SELECT col_description(a.attrelid, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = to_regclass(%s) AND a.attname = 'organization_id' "
            "AND NOT a.attisdropped",
            [table],
        )
        return (bool(rows), rows[0][0] if rows else None)

    def org_indexes(self, table):
        """[(name, valid)] of indexes whose leading column is organization_id."""
        return self.fetch(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = to_regclass(%s) AND a.attname = 'organization_id'",
            [table],
        )

    def org_foreign_keys(self, table):
        """[(name, validated)] of foreign keys from organization_id to organizations."""
        return self.fetch(
            "SELECT con.conname, con.convalidated FROM pg_constraint con "
            "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey) "
            "WHERE con.contype = 'f' AND con.conrelid = to_regclass(%s) "
            "AND con.confrelid = 'organizations'::regclass AND a.attname = 'organization_id' "
            "AND cardinality(con.conkey) = 1",
            [table],
        )

    def ensure_column(self, table):
        exists, _ = self.column_comment(table)
        if not exists:
            self.run(
                f"ALTER TABLE {table} ADD COLUMN organization_id uuid",
                f"COMMENT ON COLUMN {table}.organization_id IS '{MARKER}'",
            )
            _say(f"  {table}: added organization_id")

    def backfill(self, table, pk, derivations):
        """Derive organization_id batch by batch; return the number of rows derived."""
        if not derivations:
            return 0
        cols, marks = ", ".join(pk), ", ".join(["%s"] * len(pk))
        update = _update_sql(table, pk, derivations)
        total, lower, said, sizer = 0, None, time.monotonic(), BatchSizer()
        while True:
            # The batch's last key: an index-only scan of the primary key.
            after = f"WHERE ({cols}) > ({marks})" if lower else ""
            found = self.fetch(
                f"SELECT {cols} FROM {table} {after} ORDER BY {cols} OFFSET %s LIMIT 1",
                [*(lower or ()), sizer.size - 1],
            )
            upper = found[0] if found else None
            bounds = [(op, value) for op, value in ((">", lower), ("<=", upper)) if value]

            key = "(" + ", ".join(f"t.{c}" for c in pk) + ")"
            batch = " AND ".join([f"{key} {op} ({marks})" for op, _ in bounds] or ["TRUE"])
            params = [v for _, value in bounds for v in value]
            bounded = STATEMENT_SECONDS > 0 and sizer.size > BATCH_MIN
            started = time.monotonic()
            try:
                total += self.update_batch(update.format(batch=batch), params, bounded)
            except OperationalError as error:
                if getattr(error.__cause__, "pgcode", None) != QUERY_CANCELED or not bounded:
                    raise
                self.batch_times.append(time.monotonic() - started)
                self.cut_short += 1
                sizer.overran()
                continue  # the same range again, from `lower`, in a smaller batch
            took = time.monotonic() - started
            self.batch_times.append(took)
            sizer.measured(took)
            if upper is None:
                return total
            lower = upper
            if time.monotonic() - said >= 1:
                _say(f"  {table}: {total} rows derived so far")
                said = time.monotonic()

    def update_batch(self, sql, params, bounded):
        """One backfill UPDATE in its own transaction, cancelled past STATEMENT_SECONDS when
        `bounded`; return the rows it changed."""
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            if bounded:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)",
                               [f"{round(STATEMENT_SECONDS * 1000)}ms"])
            cursor.execute(sql, params)
            return cursor.rowcount

    def left_null(self, table, derivations):
        """[(reason, rows)] for the rows still without organization."""
        if derivations is None:
            reason = "'had no organization before the takeover: assign it by hand'"
        elif not derivations:
            reason = "'shared by every organization (no derivation)'"
        else:
            reason = " || '; ' || ".join(f"({_reason_sql(d)})" for d in derivations)
        return self.fetch(
            f"SELECT {reason} AS reason, count(*) FROM {table} t "
            "WHERE t.organization_id IS NULL GROUP BY 1 ORDER BY 1"
        )

    def ensure_index(self, table):
        name = f"{table}_organization_id_idx"
        indexes = self.org_indexes(table)
        if any(valid for _, valid in indexes):
            return
        if any(index == name for index, _ in indexes):  # left invalid by a killed build
            self.run_outside_transaction(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        started = time.monotonic()
        self.run_outside_transaction(
            f"CREATE INDEX CONCURRENTLY {name} ON {table} (organization_id)"
        )
        _say(f"  {table}: indexed organization_id concurrently "
             f"({time.monotonic() - started:.2f}s, writes not blocked)")

    def ensure_foreign_key(self, table):
        name = f"{table}_organization_id_fk"
        keys = self.org_foreign_keys(table)
        if not keys:
            self.run(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (organization_id) "
                "REFERENCES organizations (id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
            )
            keys = [(name, False)]
        for key, validated in keys:
            if not validated:
                started = time.monotonic()
                self.run(f"ALTER TABLE {table} VALIDATE CONSTRAINT {key}")
                _say(f"  {table}: foreign key {key} validated "
                     f"({time.monotonic() - started:.2f}s, writes not blocked)")

    def holds_legacy_rows(self):
        """Whether this is a wb-crm database with rows (a fresh install starts empty)."""
        return any(self.fetch(f"SELECT EXISTS (SELECT 1 FROM {table})")[0][0]
                   for table, _, _, _ in TABLES)

    def install_cutover(self):
        """The derivation trigger of every table with a derivation."""
        for table, _, _, derivations in TABLES:
            if derivations:
                self.run(*trigger_sql(table, derivations))
        _say("  derivation triggers installed: rows written without organization get theirs")

    def remove_cutover(self):
        """Undo install_cutover."""
        for table, _, _, derivations in TABLES:
            if derivations:
                self.run(*drop_trigger_sql(table))

    def remove_ours(self, table):
        """Undo only what this migration added to `table`."""
        for key, _ in self.org_foreign_keys(table):
            if key == f"{table}_organization_id_fk":
                self.run(f"ALTER TABLE {table} DROP CONSTRAINT {key}")
        for index, _ in self.org_indexes(table):
            if index == f"{table}_organization_id_idx":
                self.run_outside_transaction(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
        exists, comment = self.column_comment(table)
        if exists and comment == MARKER:
            self.run(f"ALTER TABLE {table} DROP COLUMN organization_id")


class TakeOverOrganizationIds(migrations.operations.base.Operation):
    """Add, backfill, index and constrain organization_id on every table of ADDED."""

    reversible = True

    def state_forwards(self, app_label, state):
        # Only the state this operation's own database steps see (SeparateDatabaseAndState).
        for operation in STATE_OPERATIONS:
            operation.state_forwards(app_label, state)

    def describe(self):
        return "Add and backfill organization_id on the tenant tables (idempotent)"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            self._forwards_other(app_label, schema_editor, to_state)
            return
        steps = PostgresSteps(connection)
        for table, _, _, _ in ADDED:
            steps.ensure_column(table)
        if steps.holds_legacy_rows():
            # Before any backfill: rows wb-crm writes from now on get their organization too.
            steps.install_cutover()
        report, timings = [], []
        for table, _, pk, derivations in TABLES:
            started, steps.batch_times, steps.cut_short = time.monotonic(), [], 0
            derived = steps.backfill(table, pk, derivations)
            seconds = time.monotonic() - started
            if derivations is not None:
                # Indexed after its backfill (cheaper updates); its key validated before any
                # child copies its values, so a bad organization_id stops here, not downstream.
                steps.ensure_index(table)
                steps.ensure_foreign_key(table)
            left = steps.left_null(table, derivations)
            _say(f"  {table}: {derived} rows derived, {sum(n for _, n in left)} left NULL "
                 f"({seconds:.2f}s; longest batch {max(steps.batch_times, default=0.0):.3f}s)")
            report.append((table, derived, left))
            timings.append((table, steps.batch_times, steps.cut_short))
        _say("organization_id report (rows derived in this run; rows left NULL, and why):")
        for table, derived, left in report:
            _say(f"  {table:<28} derived {derived:>9}   left NULL {sum(n for _, n in left):>9}")
            for reason, rows in left:
                _say(f"      {rows:>9}  {reason}")
        _say("backfill statements per table (p99 and maximum seconds; cut short by the "
             f"{STATEMENT_SECONDS:g}s statement timeout and redone smaller):")
        for table, times, cut_short in timings:
            if times:
                _say(f"  {table:<28} {len(times):>6} statements   p99 {percentile(times, 0.99):.3f}s"
                     f"   max {max(times):.3f}s   cut short {cut_short}")

    def _forwards_other(self, app_label, schema_editor, to_state):
        """Other backends only ever start empty (wb-crm ran on PostgreSQL): plain AddField."""
        for table, model_name, _, _ in ADDED:
            model = to_state.apps.get_model(app_label, model_name)
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
                if cursor.fetchone():
                    raise RuntimeError(
                        f"{table} has rows: their organization_id backfill runs on PostgreSQL "
                        "only. Migrate an empty database, or use PostgreSQL."
                    )
            schema_editor.add_field(model, model._meta.get_field("organization"))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            for _, model_name, _, _ in reversed(ADDED):
                model = from_state.apps.get_model(app_label, model_name)
                schema_editor.remove_field(model, model._meta.get_field("organization"))
            return
        steps = PostgresSteps(connection)
        steps.remove_cutover()
        for table, _, _, _ in reversed(ADDED):
            steps.remove_ours(table)


STATE_OPERATIONS = [
    migrations.AddField(
        model_name=model_name,
        name="organization",
        field=models.ForeignKey(
            blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
            related_name="+", to="crm.organization",
        ),
    )
    for _, model_name, _, _ in ADDED
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("crm", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=STATE_OPERATIONS,
            database_operations=[TakeOverOrganizationIds()],
        ),
    ]

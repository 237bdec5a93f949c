"""The takeover of existing wb-crm databases: `migrate --fake-initial` on real dumps.

Each database is a scratch PostgreSQL database (never pytest-django's test database) loaded from
a wb-crm dump in one of its three possible states, with planted rows; the migrations run in a
`manage.py` subprocess as they would in production. See tests/legacy.py for the planted rows.
"""
from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests.legacy import (
    AFTER_ALEMBIC,
    CAMPAIGN_CUSTOMERS,
    DERIVED_TABLES,
    HALF_DONE,
    HALF_DONE_FOREIGN_OBJECTS,
    HALF_DONE_TABLES,
    LEGACY_TABLES,
    MARKER,
    BY_TABLE,
    ORGS,
    ORIGINAL_ORG_TABLES,
    PASSWORD,
    PRE_TENANCY,
    ROOT_PASSWORD,
    STATES,
    TAKEOVER_END,
    TENANT_TABLES,
    UNTOUCHED_TABLES,
    KillPoint,
    LegacyDatabases,
    Snapshot,
    applied_migrations,
    diff,
    execute,
    expected_derived,
    expected_disagreement_keys,
    expected_disagreements,
    expected_nulls,
    expected_org,
    expected_orgs,
    manage,
    migrate,
    migrate_and_kill,
    output,
    parse_report,
    passlib_hash,
    public_tables,
    query,
    row_key,
    row_lock,
    schema,
    scratch_database,
    table_lock,
    c_null,
    camp_b,
    uid,
)
from tests.test_checks import TENANT_TABLES as EVERY_TENANT_TABLE

pytestmark = pytest.mark.legacy


def _org_columns(dbname: str) -> set[str]:
    """Tables of `dbname` with an organization_id column."""
    rows = query(
        dbname,
        "SELECT table_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = 'organization_id'",
    )
    return {table for (table,) in rows}


def _names(dbname: str) -> set[str]:
    """Names of every index and constraint of the public schema."""
    rows = query(
        dbname,
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' UNION "
        "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    )
    return {name for (name,) in rows}


def _only(rows: dict[str, list[dict]], kept: dict[str, set[str]]) -> dict[str, list[dict]]:
    """The rows of each table, restricted to the columns `kept` for it."""
    return {
        table: [{k: v for k, v in row.items() if k in kept[table]} for row in table_rows]
        for table, table_rows in rows.items()
    }


# --- 1. Every derivation, in every state -------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_migrate_derives_every_documented_organization(
    legacy: LegacyDatabases, state: str
) -> None:
    """Each planted row ends with the organization LEGACY_SCHEMA.md derives (or keeps its
    pre-filled one); underivable rows stay NULL; the report counts them, table by table."""
    run = legacy.migrated(state)
    assert run.result.returncode == 0, output(run.result)
    assert "Applying crm.0001_initial... FAKED" in run.result.stdout

    problems = []
    for table in TENANT_TABLES:
        actual = {row_key(table, row): row["organization_id"] for row in run.after.rows[table]}
        problems += diff(expected_orgs(table, state), actual, table)
    assert not problems, "\n".join(problems)

    report = parse_report(run.result.stdout)
    assert set(report) == set(TENANT_TABLES)
    for table in TENANT_TABLES:
        nulls, found = expected_nulls(table, state), report[table]
        assert (found.derived, found.left_null) == (
            expected_derived(table, state), sum(nulls.values())
        ), table
        assert sum(rows for rows, _ in found.reasons) == found.left_null, table
        for why, count in nulls.items():
            if why is None:
                continue
            said = sum(rows for rows, reason in found.reasons if why in reason)
            assert said == count, f"{table}: {count} row(s) {why!r}; report: {found.reasons}"


# --- 2. Nothing else changes ---------------------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_every_other_column_is_unchanged(legacy: LegacyDatabases, state: str) -> None:
    """Apart from organization_id, only passlib hashes change (gaining `bcrypt$`): every column
    keeps its definition and every row its values; the four untouched tables keep their schema
    (information_schema and pg_catalog) and rows."""
    run = legacy.migrated(state)
    assert run.result.returncode == 0, output(run.result)

    # Later migrations may add columns of their own: every column the dump had is compared.
    kept = {t: set(rows[0]) - {"organization_id"} for t, rows in run.before.rows.items()}
    expected = _only(run.before.rows, kept)
    for user in expected["users"]:
        if re.match(r"\$2[aby]\$", user["password"]):
            user["password"] = "bcrypt$" + user["password"]
    problems = diff(expected, _only(run.after.rows, kept))
    assert not problems, "\n".join(problems)
    passwords = {u["username"]: u["password"] for u in run.after.rows["users"]}
    assert passwords["alice"] == "bcrypt$" + passlib_hash()
    assert passwords["root"].startswith("bcrypt$$2a$")
    assert passwords["disabled"] == "!"

    def columns(snapshot: Snapshot) -> dict[tuple[str, str], tuple]:
        """(table, column): (type, not null, default) of the legacy tables."""
        return {
            (t, name): tuple(rest)
            for t, _, name, *rest in snapshot.schema["columns"] if t in LEGACY_TABLES
        }

    before, after = columns(run.before), columns(run.after)
    assert {key: after.get(key) for key in before} == before
    for table in DERIVED_TABLES:
        assert after[(table, "organization_id")][:3] == ("uuid", False, None)

    info = (
        "SELECT table_name, column_name, ordinal_position, data_type, udt_name, is_nullable, "
        "column_default, character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = ANY(%s) ORDER BY 1, 3"
    )
    untouched = list(UNTOUCHED_TABLES)
    assert query(run.name, info, [untouched]) == query(run.template, info, [untouched])
    assert schema(run.name, UNTOUCHED_TABLES) == schema(run.template, UNTOUCHED_TABLES)
    for table in UNTOUCHED_TABLES:
        assert run.after.rows[table] == run.before.rows[table] != []


@pytest.mark.parametrize("state", STATES)
def test_campaign_customers_take_their_campaigns_organization(
    legacy: LegacyDatabases, state: str
) -> None:
    """wb-crm's own campaign_customers keeps its rows and key; each row gains its campaign's
    organization (crm.0015)."""
    run = legacy.migrated(state)
    assert run.result.returncode == 0, output(run.result)
    campaigns = {row["id"]: row["organization_id"] for row in run.after.rows["campaigns"]}
    rows = run.after.rows[CAMPAIGN_CUSTOMERS]
    assert [{k: v for k, v in row.items() if k != "organization_id"} for row in rows] == (
        run.before.rows[CAMPAIGN_CUSTOMERS]
    )
    assert {row["organization_id"] for row in rows} == {ORGS["A"], ORGS["B"]}
    assert all(row["organization_id"] == campaigns[row["campaign_id"]] for row in rows)


# --- 3. makemigrations and the audit -----------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_models_match_and_audit_reports_inconsistencies(
    legacy: LegacyDatabases, state: str
) -> None:
    """No migration is missing; tenancy_audit exits 1 naming each pre-filled row that contradicts
    its parent (table and relation), and 0 where there is none (pre-tenancy)."""
    run = legacy.migrated(state)
    assert run.result.returncode == 0, output(run.result)
    check = manage(run.name, "makemigrations", "--check", "--dry-run")
    assert check.returncode == 0, output(check)

    audit = manage(run.name, "tenancy_audit", "--json")
    expected = expected_disagreements(state)
    assert audit.returncode == (1 if expected else 0), output(audit)
    if state == PRE_TENANCY:
        assert not expected  # the state without inconsistency must exercise exit 0
    found = json.loads(audit.stdout)
    by_table = {t["table"]: t for t in found["tables"]}
    assert set(TENANT_TABLES) <= set(by_table)
    reported = Counter({
        (t["table"], relation): rows
        for t in found["tables"] for relation, rows in t["disagreements"].items() if rows
    })
    assert reported == expected
    assert found["disagreements"] == sum(expected.values())
    nulls = {table: by_table[table]["null_rows"] for table in TENANT_TABLES}
    assert nulls == {table: sum(expected_nulls(table, state).values()) for table in TENANT_TABLES}

    # The rows are named: every key in --json, composite keys as job_id|customer_id.
    named = {
        (t["table"], relation): sorted(keys)
        for t in found["tables"] for relation, keys in t["disagreement_keys"].items() if keys
    }
    assert named == expected_disagreement_keys(state)
    for table in TENANT_TABLES:
        if by_table[table]["null_meaning"].startswith("not derivable"):
            keys = sorted(k for ks in by_table[table]["null_keys"].values() for k in ks)
            assert keys == sorted(
                "|".join(p.key) for p in BY_TABLE[table] if expected_org(p, state) is None
            ), table
    job_status = by_table["job_status"]["null_keys"]
    assert job_status == {"the customers row has no organization": [f"{uid('job_p')}|{c_null}"]}

    # The text output shows example keys per relation.
    text = manage(run.name, "tenancy_audit")
    for (table, relation), keys in expected_disagreement_keys(state).items():
        line = next(line for line in text.stdout.splitlines()
                    if line.strip().startswith(f"disagrees with {relation}:") and keys[0] in line)
        assert f"disagrees with {relation}: {len(keys)} e.g. {keys[0]}" in line, table


# --- 4. Killed and rerun -----------------------------------------------------------------------


def _recorded(name: str) -> str:
    """SQL: crm's migration `name` is recorded as applied."""
    return f"EXISTS (SELECT 1 FROM django_migrations WHERE app = 'crm' AND name = '{name}')"


def _index_valid(name: str, valid: bool) -> str:
    """SQL: index `name` exists and is valid, or invalid (a concurrent build was interrupted)."""
    return (
        "EXISTS (SELECT 1 FROM pg_index "
        f"WHERE indexrelid = to_regclass('{name}') AND indisvalid = {valid})"
    )


def _invalid_index(name: str) -> str:
    """SQL: index `name` exists and is invalid."""
    return _index_valid(name, False)


def _constraint(name: str, validated: bool | None = None) -> str:
    """SQL: constraint `name` exists (and is, or is not, validated)."""
    valid = "" if validated is None else f" AND convalidated = {validated}"
    return f"EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{name}'{valid})"


def _org_column(table: str) -> str:
    """SQL: `table` has an organization_id column."""
    return (
        "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('" + table + "') "
        "AND attname = 'organization_id' AND NOT attisdropped)"
    )


def _org(table: str, key: str) -> str:
    """SQL: the organization_id of the `table` row whose id is `key`."""
    return f"(SELECT organization_id::text FROM {table} WHERE id = '{key}')"


def _all(*conditions: str) -> str:
    """SQL: every condition holds."""
    return " AND ".join(f"({condition})" for condition in conditions)


IN_0002 = "NOT " + _recorded("0002_organization_id")
# The gate of the pre-tenancy points: messages' foreign key is 0002's first statement that waits
# for a writer of organizations, and every column is added by then.
MESSAGES_KEY = table_lock("organizations", r"ALTER TABLE messages ADD CONSTRAINT messages_org")
# A gate of the after-Alembic points: crm.0002's backfill of campaigns, its triggers installed.
CAMPAIGN_ROW = row_lock("campaigns", camp_b, r"UPDATE campaigns")


KILL_POINTS = [
    # The last column, while the others are added already.
    (PRE_TENANCY, KillPoint(
        "adding-columns", after=r"Applying crm\.0002",
        holds=(table_lock("number_flow_configs", r"ALTER TABLE number_flow_configs ADD COLUMN"),),
        landed=_all(IN_0002, _org_column("zoho_payload_logs"),
                    "NOT " + _org_column("number_flow_configs")),
    )),
    # Half-way through a table's backfill: order_items' first row derived, its second locked.
    (PRE_TENANCY, KillPoint(
        "backfill", after=r"orders: \d+ rows derived",
        holds=(MESSAGES_KEY, row_lock("order_items", "2", r"UPDATE order_items")),
        landed=_all(IN_0002, f"{_org('order_items', '1')} = '{ORGS['A']}'",
                    f"{_org('order_items', '2')} IS NULL"),
    )),
    # Between a table's index and its foreign key.
    (PRE_TENANCY, KillPoint(
        "indexes-and-keys", after=r"messages: indexed organization_id", holds=(MESSAGES_KEY,),
        landed=_all(IN_0002, _index_valid("messages_organization_id_idx", True),
                    "NOT " + _constraint("messages_organization_id_fk")),
    )),
    # CREATE INDEX CONCURRENTLY waits for our open writer: killed there, it leaves an invalid
    # index under our own name, which the rerun must drop and rebuild.
    (PRE_TENANCY, KillPoint(
        "invalid-index", after=r"number_flow_configs: added organization_id",
        holds=(MESSAGES_KEY, table_lock(
            "number_flow_configs",
            r"CREATE INDEX CONCURRENTLY number_flow_configs_organization_id_idx",
        )),
        landed=_invalid_index("number_flow_configs_organization_id_idx"),
    )),
    # 0003's first concurrent unique index, half built.
    (PRE_TENANCY, KillPoint(
        "0003-start", after=r"Applying crm\.0003",
        holds=(table_lock("customers", r"CREATE UNIQUE INDEX CONCURRENTLY customers_org_wa_id"),),
        landed=_all(_invalid_index("customers_org_wa_id_uniq"), _recorded("0002_organization_id")),
    )),
    # The second table's backfill: messages derived, one campaign locked.
    (AFTER_ALEMBIC, KillPoint(
        "backfill", after=r"messages: \d+ rows derived",
        holds=(row_lock("campaigns", camp_b, r"UPDATE campaigns"),),
        landed=_all(IN_0002, f"{_org('campaigns', camp_b)} IS NULL"),
    )),
    # 0003 mid-swap: customers' new unique constraint exists, its global index still does too.
    # leads is locked once the run is past crm.0002's trigger on it (CREATE TRIGGER waits for a
    # writer): while a campaigns backfill UPDATE waits for a row.
    (AFTER_ALEMBIC, KillPoint(
        "0003-mid-swap", after=r"Applying crm\.0003",
        holds=(CAMPAIGN_ROW,
               table_lock("leads", r"CREATE UNIQUE INDEX CONCURRENTLY leads_org_zoho_lead_id")),
        landed=_all(_invalid_index("leads_org_zoho_lead_id_uniq"),
                    "to_regclass('ix_customers_wa_id') IS NOT NULL",
                    _constraint("customers_org_wa_id_uniq")),
    )),
    # After messages' key is validated, in the next table's backfill.
    (HALF_DONE, KillPoint(
        "keys", after=r"messages: foreign key",
        holds=(row_lock("campaigns", camp_b, r"UPDATE campaigns"),),
        landed=_all(IN_0002, _constraint("messages_organization_id_fk", validated=True),
                    f"{_org('campaigns', camp_b)} IS NULL"),
    )),
    # crm.0011: orders' unique (organization_id, id) half built, while a writer holds orders. A
    # writer of orders held from the start would stop 0007's index on orders first: it is taken
    # while the run waits at campaigns', the parent before orders. campaigns' own writer waits
    # until the run is past crm.0002's trigger on campaigns.
    (AFTER_ALEMBIC, KillPoint(
        "0011-parent-unique", after=r"customers: unique \(organization_id, id\)",
        holds=(
            CAMPAIGN_ROW,
            table_lock("campaigns", r"CREATE UNIQUE INDEX CONCURRENTLY campaigns_org_id_uniq"),
            table_lock("orders", r"CREATE UNIQUE INDEX CONCURRENTLY orders_org_id_uniq"),
        ),
        landed=_all(_invalid_index("orders_org_id_uniq"), _constraint("campaigns_org_id_uniq")),
    )),
]


@pytest.mark.parametrize(
    ("state", "point"), KILL_POINTS, ids=[f"{s}-{p.name}" for s, p in KILL_POINTS]
)
def test_killed_migration_reruns_to_the_same_end(
    legacy: LegacyDatabases, state: str, point: KillPoint
) -> None:
    """SIGKILLed at `point` (batch size 1) and rerun, a database ends identical, rows and catalog
    (names, definitions, validity), to one migrated without interruption. Both go to the end of
    the takeover, where every kill point is: the migrations after it start from that state."""
    reference = legacy.migrated(state, TAKEOVER_END)
    assert reference.result.returncode == 0, output(reference.result)
    with scratch_database(legacy.template(state)) as db:
        killed = migrate_and_kill(db, point)
        assert query(db, f"SELECT {point.landed}")[0][0], f"the kill landed elsewhere:\n{killed}"
        rerun = migrate(db, batch_size=1, target=TAKEOVER_END)
        assert rerun.returncode == 0, f"killed run:\n{killed}\nrerun:\n{output(rerun)}"
        # The killed run may have applied other apps' migrations (auth, sessions...) before
        # crm's: those tables are not the takeover's, and the reference need not have them.
        after = Snapshot.take(db, public_tables(reference.name))
        assert applied_migrations(db) == applied_migrations(reference.name)
    problems = diff(reference.after.schema, after.schema, "schema")
    problems += diff(reference.after.rows, after.rows, "rows")
    assert not problems, "\n".join(problems)


# --- 5. Backwards, then forwards ---------------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_backwards_removes_only_ours_then_forwards_again(
    legacy: LegacyDatabases, state: str
) -> None:
    """`migrate crm 0001` drops only what our migrations added (never wb-crm's own columns,
    indexes or keys); migrating forwards again ends exactly where the first run ended."""
    run = legacy.migrated(state)
    assert run.result.returncode == 0, output(run.result)
    with scratch_database(run.name) as db:
        back = manage(db, "migrate", "crm", "0001", "--no-input")
        assert back.returncode == 0, output(back)
        assert applied_migrations(db) == ["0001_initial"]

        org_tables = _org_columns(db) & set(LEGACY_TABLES)
        names = _names(db)
        assert not any(n.endswith(("_organization_id_idx", "_organization_id_fk")) for n in names)
        if state == PRE_TENANCY:
            assert org_tables == set(ORIGINAL_ORG_TABLES)
        elif state == AFTER_ALEMBIC:
            assert org_tables == set(TENANT_TABLES)
            assert {f"ix_{t}_organization_id" for t in TENANT_TABLES} <= names
            assert {f"fk_{t}_organization_id" for t in DERIVED_TABLES} <= names
        else:
            # Hand-added columns stay; the one an earlier run of ours added (marked) goes.
            assert org_tables == set(ORIGINAL_ORG_TABLES) | set(HALF_DONE_TABLES) - {
                "quick_replies"
            }
            assert set(HALF_DONE_FOREIGN_OBJECTS) <= names
            assert not query(db, "SELECT 1 FROM pg_description WHERE description = %s", [MARKER])
        if state in (PRE_TENANCY, AFTER_ALEMBIC):
            # Back to the dump's catalog, to the index definitions and names.
            problems = diff(schema(run.template, LEGACY_TABLES), schema(db, LEGACY_TABLES))
            assert not problems, "\n".join(problems)
        users = query(db, "SELECT password FROM users WHERE username = 'alice'")
        assert users == [(passlib_hash(),)]
        # crm.0014's row-level security is gone with its functions.
        assert query(db, "SELECT count(*) FROM pg_policy") == [(0,)]
        assert query(db, "SELECT count(*) FROM pg_class WHERE relrowsecurity") == [(0,)]
        assert query(db, "SELECT count(*) FROM pg_proc WHERE proname IN "
                     "('wbcrm_current_org', 'wbcrm_unscoped')") == [(0,)]

        forward = migrate(db)
        assert forward.returncode == 0, output(forward)
        assert query(db, "SELECT count(*) FROM pg_class WHERE relrowsecurity "
                     "AND relforcerowsecurity") == [(len(EVERY_TENANT_TABLE),)]
        # every tenant table, the port's own included; + the shared-read policies of templates,
        # zoho_mappings and the catalog (categories, sub_categories, products: crm.0037)
        assert query(db, "SELECT count(*) FROM pg_policy") == [(len(EVERY_TENANT_TABLE) + 5,)]
        again = Snapshot.take(db)
    problems = diff(run.after.schema, again.schema, "schema")
    problems += diff(run.after.rows, again.rows, "rows")
    assert not problems, "\n".join(problems)


# --- 6. Legacy passwords -----------------------------------------------------------------------

LOGIN = """
import json
from django.contrib.auth import authenticate

def who(**credentials):
    user = authenticate(None, **credentials)
    return user.username if user else None

print(json.dumps({
    "alice": who(username="alice", password=%(pw)r),
    "alice-in-org-a": who(username="alice", password=%(pw)r, organization="org-a"),
    "alice-in-org-b": who(username="alice", password=%(pw)r, organization="org-b"),
    "alice-wrong": who(username="alice", password="not-" + %(pw)r),
    "root": who(username="root", password=%(root)r),
}))
"""


def test_legacy_user_signs_in_with_original_password(legacy: LegacyDatabases) -> None:
    """A wb-crm user (passlib $2b$, or $2a$) signs in with the original password after the
    takeover, and the hash is upgraded to Django's preferred hasher on the way."""
    run = legacy.migrated(PRE_TENANCY)
    assert run.result.returncode == 0, output(run.result)
    with scratch_database(run.name) as db:
        result = manage(db, "shell", "-c", LOGIN % {"pw": PASSWORD, "root": ROOT_PASSWORD})
        assert result.returncode == 0, output(result)
        signed_in = json.loads(result.stdout.strip().splitlines()[-1])
        assert signed_in == {
            "alice": "alice", "alice-in-org-a": "alice", "alice-in-org-b": None,
            "alice-wrong": None, "root": "root",
        }
        hashes = dict(query(db, "SELECT username, password FROM users"))
    assert hashes["alice"].startswith("pbkdf2_sha256$")
    assert hashes["root"].startswith("pbkdf2_sha256$")
    assert hashes["bob"] == "bcrypt$" + passlib_hash()  # not signed in: untouched


# --- 7. A failing step stops everything --------------------------------------------------------

NO_SUCH_ORG = uid("no such organization")
JOB_B1 = uid("job_b1")


def test_failing_step_stops_the_migration(legacy: LegacyDatabases) -> None:
    """An organization_id naming no organization, in a half-done table without a foreign key:
    the foreign key's validation fails and migrate exits non-zero with PostgreSQL's error (no
    warning-and-success); 0002 is not recorded, nor anything after it."""
    with scratch_database(legacy.template(HALF_DONE)) as db:
        execute(db, "UPDATE jobs SET organization_id = %s WHERE id = %s", [NO_SUCH_ORG, JOB_B1])
        failed = migrate(db)
        assert failed.returncode != 0, output(failed)
        assert 'violates foreign key constraint "jobs_organization_id_fk"' in failed.stderr, \
            output(failed)
        assert 'is not present in table "organizations"' in failed.stderr
        assert " OK" not in failed.stdout.split("Applying crm.0002_organization_id...")[1]
        assert applied_migrations(db) == ["0001_initial"]
        # The key stays, not validated: a rerun validates it once the data allows.
        assert query(
            db, "SELECT convalidated FROM pg_constraint WHERE conname = 'jobs_organization_id_fk'"
        ) == [(False,)]


def test_fixing_the_reported_row_lets_the_rerun_complete(legacy: LegacyDatabases) -> None:
    """After the failure above, the only bad value is the planted one; fixing it is enough."""
    with scratch_database(legacy.template(HALF_DONE)) as db:
        execute(db, "UPDATE jobs SET organization_id = %s WHERE id = %s", [NO_SUCH_ORG, JOB_B1])
        assert migrate(db).returncode != 0
        spread = query(
            db, "SELECT id::text FROM whatsapp_api_logs WHERE organization_id = %s", [NO_SUCH_ORG]
        )
        execute(db, "UPDATE jobs SET organization_id = NULL WHERE id = %s", [JOB_B1])
        rerun = migrate(db, target=TAKEOVER_END)  # the takeover is what the failure stopped
        assert rerun.returncode == 0, f"copied into whatsapp_api_logs {spread}\n{output(rerun)}"
        assert "0004_django_password_hashes" in applied_migrations(db)
        assert query(db, "SELECT organization_id::text FROM jobs WHERE id = %s", [JOB_B1]) == [
            (ORGS["B"],)
        ]

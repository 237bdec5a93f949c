"""PostgreSQL row-level security: the database itself keeps organizations apart.

The tests run as the app role (tests/conftest.py), so every statement here meets the policies.
"""
from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Customer, Organization
from tenancy import rls
from tenancy.checks import bypass_reasons, rls_problems
from tenancy.context import tenant_context, unscoped
from tenancy.guards import is_tenant_model
from tests.factories import CustomerFactory, TemplateFactory, UserFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no row-level security"
)
OWNER = urlsplit(os.environ["DATABASE_URL"]).username  # who created and migrated the test database


def names(sql: str = "SELECT name FROM customers ORDER BY name") -> list[Any]:
    """Raw SQL through Django's cursor, which no Python scope touches."""
    # Raw on purpose: only the database's policies stand between this query and other tenants.
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def rowcounts(cursor: Any, *statements: str) -> list[int]:
    """Rows each raw statement changed."""
    counts = []
    for statement in statements:
        cursor.execute(statement)
        counts.append(cursor.rowcount)
    return counts


def refused(cursor: Any, statement: str, params: list[Any] | None = None) -> None:
    """The statement fails with the policy's error (and leaves the test's transaction usable)."""
    with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
        cursor.execute(statement, params)


@pytest.fixture
def customers(org_a: Organization, org_b: Organization) -> None:
    """Customer `a` in organization A, `b` in B."""
    with tenant_context(org_a):
        CustomerFactory(name="a")
    with tenant_context(org_b):
        CustomerFactory(name="b")


def test_the_tests_serve_as_a_role_the_policies_bind(db: None) -> None:
    with connection.cursor() as cursor:
        assert bypass_reasons(cursor) == []


def owner_connection() -> psycopg2.extensions.connection:
    """A connection of the owner's to the test database, in a transaction until closed."""
    settings = connection.settings_dict
    return psycopg2.connect(host=settings["HOST"], port=settings["PORT"], user=OWNER,
                            dbname=settings["NAME"])


def test_the_check_names_a_role_that_would_bypass_the_policies(db: None) -> None:
    """The owner (here the superuser that migrated) is what `manage.py check` warns about."""
    owner = owner_connection()
    try:
        with owner.cursor() as cursor:
            assert bypass_reasons(cursor)[0] == "it is a superuser"
    finally:
        owner.close()


def test_every_tenant_table_has_row_level_security_and_its_policies(db: None) -> None:
    """A tenant table added later without EnableRowLevelSecurity fails here (and the check)."""
    tables = {m._meta.db_table: m.shared_rows for m in apps.get_models() if is_tenant_model(m)}
    with connection.cursor() as cursor:
        assert rls_problems(cursor, tables) == []
        # A table without them is reported: organizations is shared and has none.
        assert rls_problems(cursor, {"organizations": False}) == [
            "organizations: row level security DISABLED, NOT FORCED, missing policies "
            "['tenant_rows']"
        ]


def test_every_tenant_table_carries_the_latest_policy_version(db: None) -> None:
    """A tenant table added later with an older version of the policies fails here."""
    tables = {m._meta.db_table for m in apps.get_models() if is_tenant_model(m)}
    rendered = ("SELECT polrelid::regclass::text, pg_get_expr(polqual, polrelid) FROM pg_policy "
                "WHERE polname = %s")
    # PostgreSQL's own rendering of the latest condition, on a table of the test's own: the
    # owner's (the app role may create no temporary table), rolled back when it closes.
    owner = owner_connection()
    try:
        with owner.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE latest_policy (organization_id uuid)")
            cursor.execute(f"CREATE POLICY {rls.ROWS_POLICY} ON latest_policy "
                           f"USING ({rls.OWN_ROWS[rls.LATEST]})")
            cursor.execute(rendered, [rls.ROWS_POLICY])
            conditions = dict(cursor.fetchall())
    finally:
        owner.close()
    latest = conditions.pop("latest_policy")
    older = {table: condition for table, condition in conditions.items() if condition != latest}
    assert older == {}
    assert set(conditions) == tables


def test_every_function_of_the_schema_pins_its_search_path(db: None) -> None:
    """PostgreSQL searches pg_temp first for tables unless the path names it: a function that
    runs as its owner (SECURITY DEFINER) would read a caller's temporary `customers`. Ours each
    set a path of pg_catalog first and pg_temp last (extensions' C functions are not ours)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d "
            "    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
        )
        functions = {name: (definer, config or []) for name, definer, config in cursor.fetchall()}
    assert {name for name, (definer, _) in functions.items() if definer} >= {
        "wbcrm_search_customers", "wbcrm_test_plant",
    }
    assert {"wbcrm_current_org", "wbcrm_unscoped"} <= set(functions)
    paths = {
        name: [entry.strip() for setting in config if setting.startswith("search_path=")
               for entry in setting.removeprefix("search_path=").split(",")]
        for name, (_, config) in functions.items()
    }
    unpinned = {name: path for name, path in paths.items()
                if path[:1] != ["pg_catalog"] or path[-1:] != ["pg_temp"]}
    assert unpinned == {}


def test_raw_sql_sees_only_the_active_organizations_rows(customers: None, org_a, org_b) -> None:
    with tenant_context(org_a):
        assert names() == ["a"]
        with tenant_context(org_b):
            assert names() == ["b"]
        assert names() == ["a"]
    with unscoped():  # the bypass setting, not a privileged role
        assert names() == ["a", "b"]


def test_raw_writes_never_reach_another_organization(customers: None, org_a, org_b) -> None:
    with tenant_context(org_a), connection.cursor() as cursor:
        assert rowcounts(cursor, "UPDATE customers SET name = 'x'",
                         "DELETE FROM customers WHERE name = 'b'") == [1, 0]
        refused(cursor, "INSERT INTO customers (organization_id, wa_id, name, customer_status) "
                "VALUES (%s, '49170000000', 'planted', 'pending')", [str(org_b.pk)])
        refused(cursor, "UPDATE customers SET organization_id = %s", [str(org_b.pk)])
    with unscoped():
        assert names() == ["b", "x"]


def test_no_organization_is_an_error_not_an_empty_answer(customers: None) -> None:
    with pytest.raises(DatabaseError, match="no organization is active"), transaction.atomic():
        names()
    with pytest.raises(DatabaseError, match="no organization is active"), transaction.atomic():
        names("SELECT count(*) FROM customers")


def test_the_organization_is_reset_when_the_context_exits(customers: None, org_a) -> None:
    with tenant_context(org_a):
        assert names() == ["a"]
    with pytest.raises(DatabaseError, match="no organization"), transaction.atomic():
        names()


def test_shared_rows_are_read_by_all_and_written_only_unscoped(org_a, org_b) -> None:
    with unscoped():
        TemplateFactory(template_name="shared")
    with tenant_context(org_b):
        TemplateFactory(template_name="b-only")
    query = "SELECT template_name FROM templates ORDER BY 1"
    with tenant_context(org_a):
        assert names(query) == ["shared"]
        with connection.cursor() as cursor:
            assert rowcounts(cursor, "UPDATE templates SET template_body = '{}'",
                             "DELETE FROM templates") == [0, 0]
            refused(cursor, "INSERT INTO templates (template_name, template_body, organization_id) "
                    "VALUES ('forged', '{}', NULL)")
    with unscoped():
        assert names(query) == ["b-only", "shared"]


def test_platform_users_are_visible_to_no_organization(org_a) -> None:
    with unscoped():
        UserFactory(username="platform", super_admin=True)
    with tenant_context(org_a):
        UserFactory(username="agent-a")
        assert names("SELECT username FROM users ORDER BY 1") == ["agent-a"]
    with unscoped():
        assert names("SELECT username FROM users ORDER BY 1") == ["agent-a", "platform"]


# --- The session follows tenancy.context: once per change, never per statement -------------

def sent() -> int:
    """set_config round trips so far on this thread's connection."""
    return connection.tenant_settings_sent


def test_settings_are_sent_once_per_change_not_per_statement(customers: None, org_a) -> None:
    with tenant_context(org_a):
        names()
        before = sent()
        for _ in range(5):
            names()
        assert sent() == before
        with tenant_context(org_a):  # the same state again: nothing to send
            names()
        assert sent() == before
        with unscoped():
            names()
        assert sent() == before + 1
        names()
        assert sent() == before + 2


def test_a_logged_statement_that_sets_the_organization_itself_is_logged_whole(
    customers: None, org_a
) -> None:
    """A migration's own set_config starts like the settings the backend sends, and is kept."""
    own = f"SELECT set_config('{rls.ORGANIZATION_SETTING}', '', true)"
    with tenant_context(org_a):
        names()  # the session is in step: the statement goes alone
        with transaction.atomic(), CaptureQueriesContext(connection) as logged:
            with connection.cursor() as cursor:
                cursor.execute(own)
    assert [query["sql"] for query in logged.captured_queries] == [own]


def test_a_rolled_back_transaction_undoes_the_setting_and_it_is_sent_again(
    customers: None, org_a, org_b
) -> None:
    with tenant_context(org_a):
        names()
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            with tenant_context(org_b):
                assert names() == ["b"]  # set inside the savepoint ...
            1 / 0  # ... and undone by its rollback, which the backend notices
        assert names() == ["a"]
        with transaction.atomic():
            with tenant_context(org_b):
                names()
            transaction.set_rollback(True)
        with tenant_context(org_b):
            assert names() == ["b"]


def test_an_aborted_transaction_still_rolls_back_after_the_context_changed(
    customers: None, org_a, org_b
) -> None:
    with tenant_context(org_a):
        with pytest.raises(DatabaseError), transaction.atomic():
            with tenant_context(org_b):
                names("SELECT 1/0")
            # The state differs from the session's, but only ROLLBACK TO SAVEPOINT may run now.
        assert names() == ["a"]


def test_statements_that_cannot_carry_the_settings_get_them_first(
    customers: None, org_a, org_b
) -> None:
    """A server-side cursor, executemany and other commands (LOCK here) take the settings in a
    round trip of their own."""
    with tenant_context(org_a):
        names()
    with tenant_context(org_b):
        assert [c.name for c in Customer.objects.iterator(chunk_size=1)] == ["b"]
    with tenant_context(org_a), connection.cursor() as cursor:
        cursor.executemany("UPDATE customers SET name = %s WHERE name = %s",
                           [("a2", "a"), ("b2", "b")])
        assert names() == ["a2"]
    with tenant_context(org_b), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE customers IN ACCESS SHARE MODE")
        assert names() == ["b"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_statement_takes_the_settings_it_carried_with_it(
    customers: None, org_a, org_b
) -> None:
    """Outside a transaction a failed statement undoes the settings sent with it: sent again."""
    try:
        with tenant_context(org_a):
            assert names() == ["a"]
        with tenant_context(org_b):
            with pytest.raises(DatabaseError, match="division by zero"):
                names("SELECT 1/0")
            assert names() == ["b"]
        with pytest.raises(DatabaseError, match="no organization is active"):
            names()
    finally:
        connection.close()


def test_a_connection_kept_open_carries_no_organization_into_the_next_use(org_a) -> None:
    """A persistent (CONN_MAX_AGE) connection: the next statement outside A runs outside A."""
    other = connections.create_connection("default")
    query = "SELECT current_setting('wbcrm.organization_id'), current_setting('wbcrm.unscoped')"
    try:
        with other.cursor() as cursor:
            with tenant_context(org_a):
                cursor.execute(query)
                assert cursor.fetchone() == (str(org_a.pk), "off")
            cursor.execute(query)
            assert cursor.fetchone() == ("", "off")
            with unscoped():
                cursor.execute(query)
                assert cursor.fetchone() == ("", "on")
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_threads_each_keep_their_connection_in_step(customers: None, org_a, org_b) -> None:
    barrier = threading.Barrier(8, timeout=30)  # a thread that never arrives fails the test

    @tenant_context(org_a)
    def as_a() -> list[Any]:
        return names()

    def visit(org: Organization) -> list[list[Any]]:
        seen = []
        try:
            for _ in range(5):
                barrier.wait()
                with tenant_context(org):
                    seen.append(names())
                seen.append(as_a())
        finally:
            connection.close()
        return seen

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(visit, [org_a, org_b] * 4))
    for org, seen in zip([org_a, org_b] * 4, results):
        assert seen == [[org.code[-1]], ["a"]] * 5


@pytest.mark.django_db(transaction=True)
def test_async_tasks_each_see_their_own_organization(customers: None, org_a, org_b) -> None:

    async def visit(org: Organization) -> list[list[Any]]:
        seen = []
        for _ in range(5):
            with tenant_context(org):
                await asyncio.sleep(0)
                seen.append(await sync_to_async(names)())
        return seen

    async def main() -> list[list[list[Any]]]:
        try:
            return await asyncio.gather(*(visit(org) for org in [org_a, org_b] * 5))
        finally:
            await sync_to_async(lambda: connection.close())()  # the ORM thread's connection

    for org, seen in zip([org_a, org_b] * 5, asyncio.run(main())):
        assert seen == [[org.code[-1]]] * 5

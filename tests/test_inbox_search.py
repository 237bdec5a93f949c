"""Inbox search (crm.inbox.search, crm.0018's wbcrm_search_customers): matches, escaping, the
trigram indexes, and the function tried as an attacker would: another organization, no
organization, unscoped(), a temporary `customers` of the caller's own."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import psycopg2.errors
import pytest
from django.db import DatabaseError, connection, transaction

from crm.models import Organization, Role
from tenancy.context import tenant_context, unscoped
from tests.inbox_support import conversation
from tests.test_admin_support import make_staff
from tests.conftest import APP_ROLE, World
from tests.test_inbox_queries import names

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="SQLite searches with icontains, no function")
OWNER = urlsplit(os.environ["DATABASE_URL"]).username  # who created and migrated the test database
SEARCH_INDEXES = {"customers_org_name_trgm_idx", "customers_org_wa_id_trgm_idx",
                  "customers_org_phone_trgm_idx"}
# The attacker's `customers`: every organization's customers, labelled the active one's. With
# security_invoker it reads the table as whoever selects from it: the function's owner, who
# bypasses the policies.
SHADOW = """
CREATE TEMP VIEW customers WITH (security_invoker = true) AS
    SELECT c.id, current_setting('wbcrm.organization_id')::uuid AS organization_id, c.name,
           c.wa_id, c.phone_1
    FROM public.customers c
"""


@pytest.fixture
def people(org_a: Organization, org_b: Organization) -> dict[str, Any]:
    """Customers of A whose names hold LIKE's special characters, and one of B."""
    return {
        "agent": make_staff(org_a, Role.AGENT),
        "percent": conversation(org_a, "50% off", phone_1="+91 98100 00001"),
        "digits": conversation(org_a, "5000 club"),
        "underscore": conversation(org_a, "a_b"),
        "plain": conversation(org_a, "axb"),
        "bala": conversation(org_b, "Bala"),
    }


def _search(org: Organization | None, term: str) -> list[Any]:
    """What the function answers for `term` in `org` (None: unscoped())."""
    context = tenant_context(org) if org is not None else unscoped()
    with context, connection.cursor() as cursor:
        cursor.execute("SELECT wbcrm_search_customers(%s)", [term])
        return cursor.fetchone()[0]


@pytest.mark.parametrize(("term", "expected"), [
    ("50%", ["50% off"]),  # % is a character, not "anything"
    ("A_B", ["a_b"]),  # _ too, and case does not matter
    ("98100", ["50% off"]),  # any field: phone
    ("bala", []),  # another organization's customer
])
def test_search_matches_like_icontains(people: dict[str, Any], org_a: Organization,
                                       term: str, expected: list[str]) -> None:
    assert names(org_a, people["agent"], search=term) == expected


def test_wa_id_fragment(people: dict[str, Any], org_a: Organization) -> None:
    wa_id = people["digits"].wa_id
    assert names(org_a, people["agent"], search=wa_id[-7:]) == ["5000 club"]


def test_another_organizations_customers_are_never_found(
    people: dict[str, Any], org_a: Organization, org_b: Organization, python_scope: bool
) -> None:
    """With the Python scope off too: the function restricts itself to the organization."""
    assert _search(org_a, "Bala") == []
    assert _search(org_a, people["bala"].wa_id) == []
    assert _search(org_b, "Bala") == [people["bala"].pk]
    assert names(org_a, people["agent"], search="Bala") == []


def test_no_organization_is_an_error_and_unscoped_finds_nothing(people: dict[str, Any]) -> None:
    with pytest.raises(DatabaseError, match="no organization is active"), \
            transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT wbcrm_search_customers('Bala')")
    assert _search(None, "Bala") == []


def test_only_roles_that_read_customers_may_call_it(db: None) -> None:
    """It runs as its owner, past the policies: PUBLIC must not be able to call it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_function_privilege('public', "
                       "'wbcrm_search_customers(text)', 'EXECUTE'), "
                       "has_function_privilege(current_user, "
                       "'wbcrm_search_customers(text)', 'EXECUTE'), "
                       "has_table_privilege(current_user, 'customers', 'SELECT')")
        assert cursor.fetchone() == (False, True, True)


def test_the_trigram_indexes_exist(db: None) -> None:
    """crm.0013's indexes are built (on GIN, with pg_trgm's operator class), and valid."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "JOIN pg_opclass o ON o.oid = ANY(i.indclass::oid[]) "
            "WHERE i.indrelid = 'customers'::regclass AND i.indisvalid "
            "AND a.amname = 'gin' AND o.opcname = 'gin_trgm_ops'"
        )
        assert {name for (name,) in cursor.fetchall()} == SEARCH_INDEXES


def _login(role: str) -> psycopg2.extensions.connection:
    """A connection of our own to the test database, logged in as `role`."""
    settings = connection.settings_dict
    return psycopg2.connect(host=settings["HOST"], port=settings["PORT"], user=role,
                            dbname=settings["NAME"])


@contextmanager
def _as_owner() -> Iterator[psycopg2.extensions.cursor]:
    """An autocommit cursor of the owner's, for roles and grants."""
    owner = _login(OWNER)
    owner.autocommit = True
    try:
        with owner.cursor() as cursor:
            yield cursor
    finally:
        owner.close()


@contextmanager
def _attacker_with_temporary() -> Iterator[str]:
    """A throwaway role that may do what the app role may, and create temporary objects too."""
    role = f"wbcrm_test_attacker_{uuid.uuid4().hex[:8]}"
    database = connection.settings_dict["NAME"]
    with _as_owner() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE "{APP_ROLE}"')
        cursor.execute(f'GRANT TEMPORARY ON DATABASE "{database}" TO "{role}"')
    try:
        yield role
    finally:
        with _as_owner() as cursor:
            cursor.execute(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')


def _search_through_a_shadow(role: str, organization: Organization, term: str) -> list[Any]:
    """As `role`: create the temporary `customers` view, then search in `organization`."""
    attacker = _login(role)
    try:
        with attacker.cursor() as cursor:
            # The app role may set the settings itself: the policies are no defence against SQL.
            cursor.execute("SELECT set_config('wbcrm.organization_id', %s, false)",
                           [str(organization.pk)])
            cursor.execute(SHADOW)
            cursor.execute("SELECT wbcrm_search_customers(%s)", [term])
            return cursor.fetchone()[0]
    finally:
        attacker.close()


@pytest.mark.django_db(transaction=True)  # committed: the attacker's own connection sees them
def test_the_app_role_may_not_create_temporary_objects(world: World) -> None:
    """A temporary `customers` would come before the function's own: the app role gets none."""
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="temporary"):
        _search_through_a_shadow(APP_ROLE, world.a, world.customer_a.wa_id)


@pytest.mark.django_db(transaction=True)
def test_the_search_never_reads_a_temporary_customers(world: World) -> None:
    """Even for a role that may create one, the function reads public.customers only."""
    assert world.customer_a.wa_id == world.customer_b.wa_id
    with _attacker_with_temporary() as role:
        found = _search_through_a_shadow(role, world.a, world.customer_a.wa_id)
    assert found == [world.customer_a.pk]

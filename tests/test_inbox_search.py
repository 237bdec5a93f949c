"""Inbox search (crm.inbox.search, crm.0018's wbcrm_search_customers): matches, escaping, and
the function tried as an attacker would: another organization, no organization, unscoped()."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from crm.models import Organization, Role
from tenancy.context import tenant_context, unscoped
from tests.inbox_support import conversation
from tests.test_admin_support import make_staff
from tests.test_inbox_queries import names

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="SQLite searches with icontains, no function")


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

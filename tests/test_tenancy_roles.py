"""`manage.py tenancy_roles` and the production order: a superuser sets up the roles and the
extensions, the owner (no superuser) migrates, the app role serves and creates nothing.

The migrate runs are `manage.py` subprocesses on scratch databases, as in production.
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

from tenancy import roles
from tests.conftest import APP_ROLE
from tests.legacy import (
    PG_DSN, REPO, applied_migrations, cursor, manage_env, output, query, scratch_database,
)

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="roles and extensions are PostgreSQL's")
SEARCH_INDEXES = ["customers_org_name_trgm_idx", "customers_org_phone_trgm_idx",
                  "customers_org_wa_id_trgm_idx"]
LATEST = "0021_pinned_search_paths"


def _manage(dbname: str, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py *args` against `dbname`, logged in as `user`."""
    env = manage_env(dbname)
    env["DATABASE_URL"] = f"postgres://{user}@{PG_DSN['host']}:{PG_DSN['port']}/{dbname}"
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def _search_indexes(dbname: str) -> list[str]:
    """The valid trigram indexes on customers."""
    rows = query(dbname, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                         "WHERE i.indrelid = 'customers'::regclass AND i.indisvalid "
                         "AND c.relname LIKE '%%trgm_idx' ORDER BY c.relname")
    return [name for (name,) in rows]


@pytest.fixture
def owner_and_app() -> Iterator[tuple[str, str]]:
    """Two roles of this test only (the owner, no superuser, exists; the app role not yet),
    dropped at the end, after the scratch database that holds their grants."""
    suffix = uuid.uuid4().hex[:8]
    owner, app = f"wbcrm_test_owner_{suffix}", f"wbcrm_test_app_{suffix}"
    with cursor("postgres") as cur:
        cur.execute(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER')
    try:
        yield owner, app
    finally:
        with cursor("postgres") as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{app}"')
            cur.execute(f'DROP ROLE "{owner}"')


def test_migrate_stops_without_the_extensions_and_says_how_to_fix_it(
    owner_and_app: tuple[str, str],
) -> None:
    """An owner that may not create pg_trgm gets an error, never an inbox without its indexes;
    `tenancy_roles` creates the extensions, and the same migrate then builds them. A database
    whose crm.0013 skipped them (earlier code only printed a warning) gets them from crm.0021."""
    owner, app = owner_and_app
    with scratch_database() as db:
        with cursor(db) as cur:  # what the owner may do without tenancy_roles: create tables
            cur.execute(f'GRANT CREATE ON SCHEMA public TO "{owner}"')

        refused = _manage(db, owner, "migrate", "--no-input")
        assert refused.returncode != 0, output(refused)
        assert "manage.py tenancy_roles" in refused.stderr and "superuser" in refused.stderr
        assert "0013_inbox" not in applied_migrations(db)
        # Stopped before crm.0013 changed anything: the same migrate runs again once fixed.
        assert query(db, "SELECT count(*) FROM information_schema.columns "
                         "WHERE table_name = 'customers' AND column_name = 'last_inbound_at'"
                     ) == [(0,)]

        setup = _manage(db, "postgres", "tenancy_roles", "--owner", owner, "--app", app)
        assert setup.returncode == 0, output(setup)
        extensions = query(db, "SELECT extname FROM pg_extension WHERE extname = ANY(%s)",
                           [list(roles.EXTENSIONS)])
        assert sorted(extensions) == [("btree_gin",), ("pg_trgm",)]
        # Up to crm.0021: the history rewritten below is that of a database of its time.
        migrated = _manage(db, owner, "migrate", "crm", LATEST, "--no-input")
        assert migrated.returncode == 0, output(migrated)
        assert _search_indexes(db) == SEARCH_INDEXES

        # A database migrated by the old crm.0013 without the extensions, before crm.0021.
        with cursor(db) as cur:
            cur.execute("DROP INDEX " + ", ".join(SEARCH_INDEXES))
            cur.execute("DROP EXTENSION btree_gin, pg_trgm")
            cur.execute("DELETE FROM django_migrations WHERE app = 'crm' AND name = %s", [LATEST])
        refused = _manage(db, owner, "migrate", "--no-input")
        assert refused.returncode != 0, output(refused)
        assert "manage.py tenancy_roles" in refused.stderr
        assert _manage(db, "postgres", "tenancy_roles", "--owner", owner, "--app", app
                       ).returncode == 0
        migrated = _manage(db, owner, "migrate", "--no-input")
        assert migrated.returncode == 0, output(migrated)
        assert _search_indexes(db) == SEARCH_INDEXES
        assert LATEST in applied_migrations(db)


def test_the_app_role_and_public_may_create_nothing(db: None) -> None:
    """No temporary objects (they would come first in a function's search path) and nothing in
    schema public (a function there could shadow one the owner's SQL calls)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT role, has_database_privilege(role, current_database(), 'TEMPORARY'), "
            "has_schema_privilege(role, 'public', 'CREATE') "
            "FROM unnest(ARRAY['public', %s]) role ORDER BY role", [APP_ROLE]
        )
        assert cursor.fetchall() == [("public", False, False), (APP_ROLE, False, False)]


def test_tenancy_roles_creates_every_extension_the_migrations_need() -> None:
    """A migration may not import live code, so the two lists are kept in step here."""
    inbox = importlib.import_module("crm.migrations.0013_inbox")
    assert set(inbox.SEARCH_EXTENSIONS) <= set(roles.EXTENSIONS)
    migrations = (REPO / "crm" / "migrations").glob("*.py")
    creating = [path.name for path in migrations if "CREATE EXTENSION" in path.read_text()]
    assert creating == ["0013_inbox.py"]

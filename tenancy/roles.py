"""The two PostgreSQL roles of a deployment: the owner runs `migrate`, the app role serves.

The owner owns the schema and has BYPASSRLS (migrations and `tenancy_audit` cross organizations).
The app role is neither superuser nor BYPASSRLS and owns nothing, so the policies bind it; it may
read and write rows, never change the schema nor create temporary objects. Run by a superuser
(`manage.py tenancy_roles`), which also creates the extensions the migrations need.
"""
from __future__ import annotations

from typing import Any

from psycopg2 import sql

# The extensions the migrations need (crm.0013's trigram indexes). A superuser creates them: an
# owner that may not create in the database would have its migrate stop at crm.0013.
EXTENSIONS = ("pg_trgm", "btree_gin")


def _role_exists(cursor: Any, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def _ensure_role(cursor: Any, role: str, attributes: str, password: str | None) -> None:
    """Create `role` (LOGIN) when missing, then give it `attributes` and the password, if any."""
    name = sql.Identifier(role)
    if not _role_exists(cursor, role):
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
    cursor.execute(sql.SQL("ALTER ROLE {} " + attributes).format(name))
    if password:
        cursor.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(name), [password])


def _reassign_schema(cursor: Any, owner: str) -> None:
    """Make `owner` own the tables, sequences and functions of schema public."""
    # A sequence owned by a column (serial, identity) follows its table.
    cursor.execute(
        "SELECT c.relkind, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
        "AND pg_get_userbyid(c.relowner) <> %s AND NOT (c.relkind = 'S' AND EXISTS ("
        "    SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
        "    AND d.objid = c.oid AND d.deptype IN ('a', 'i')))",
        [owner],
    )
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    for kind, name in cursor.fetchall():
        cursor.execute(sql.SQL(f"ALTER {kinds[kind]} {{}} OWNER TO {{}}").format(
            sql.Identifier("public", name), sql.Identifier(owner)
        ))
    # An extension's functions stay with the extension's owner: they are not ours to redefine.
    cursor.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s AND NOT EXISTS ("
        "    SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "
        "    AND d.objid = p.oid AND d.deptype = 'e')",
        [owner],
    )
    for (signature,) in cursor.fetchall():
        cursor.execute(sql.SQL(f"ALTER FUNCTION {signature} OWNER TO {{}}").format(
            sql.Identifier(owner)
        ))


def setup_roles(
    cursor: Any,
    database: str,
    *,
    owner: str,
    app: str,
    owner_password: str | None = None,
    app_password: str | None = None,
    reassign: bool = True,
) -> None:
    """Create or update both roles, grant the app role row access to schema public (nothing
    more), and create the extensions the migrations need."""
    # One role setup at a time on the cluster: roles are shared by every database on it, and two
    # concurrent ALTER ROLEs of one role fail ("tuple concurrently updated"). An advisory lock is
    # per database; pg_authid is one table for the whole cluster. The mode conflicts with itself
    # and with role changes, never with the reads a sign-in makes.
    cursor.execute("LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE")
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [owner])
    row = cursor.fetchone()
    if row is None or not row[0]:  # a superuser owner (tests, the demo) stays as it is
        _ensure_role(cursor, owner, "NOSUPERUSER BYPASSRLS", owner_password)
    _ensure_role(
        cursor, app, "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION", app_password
    )
    names = {"db": sql.Identifier(database), "owner": sql.Identifier(owner),
             "app": sql.Identifier(app)}
    statements = [
        "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {owner}",
        "GRANT CONNECT ON DATABASE {db} TO {app}",
        # PostgreSQL searches a session's temporary tables before any schema unless a function's
        # search_path names pg_temp: with none, the app role cannot shadow what the owner reads.
        "REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC, {app}",
        "GRANT USAGE, CREATE ON SCHEMA public TO {owner}",
        # Nor put a function in public that would outmatch pg_catalog's in the owner's SQL.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC, {app}",
        "GRANT USAGE ON SCHEMA public TO {app}",
    ]
    for statement in statements:
        cursor.execute(sql.SQL(statement).format(**names))
    for extension in EXTENSIONS:
        # Where the owner's migrations find them; IF NOT EXISTS leaves one in another schema.
        cursor.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public").format(
            sql.Identifier(extension)
        ))
    if reassign:
        _reassign_schema(cursor, owner)
    statements = [
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
        # Tables and sequences that later migrations create get the same grants.
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        "GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        # Functions the migrations create for the app (crm.0018's search), now and later.
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {app}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        "GRANT EXECUTE ON FUNCTIONS TO {app}",
    ]
    for statement in statements:
        cursor.execute(sql.SQL(statement).format(**names))


def grant_legacy(cursor: Any, legacy: str, owner: str) -> None:
    """Let wb-crm's login read and write the tables, those `owner`'s migrations create included
    (their triggers write into new tables), during the cut-over only. Row-level security still
    binds it: `migrate` with TENANCY_LEGACY_ROLE gives it a policy of its own (tenancy.rls), and
    tenancy_enforce drops those policies and revokes these grants."""
    if not _role_exists(cursor, legacy):
        raise ValueError(f"no role {legacy!r}: name the login wb-crm connects with (--legacy)")
    names = {"legacy": sql.Identifier(legacy), "owner": sql.Identifier(owner)}
    for statement in (
        "GRANT USAGE ON SCHEMA public TO {legacy}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {legacy}",
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {legacy}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {legacy}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
        "GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {legacy}",
    ):
        cursor.execute(sql.SQL(statement).format(**names))

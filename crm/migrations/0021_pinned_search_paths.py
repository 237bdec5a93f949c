"""Every function of ours pins its search_path, pg_temp last; the inbox's trigram indexes exist.

A function without its own search_path resolves names with the caller's, where PostgreSQL
searches the caller's temporary tables first unless the path names pg_temp. crm.0018's
`wbcrm_search_customers` runs as its owner: an app role's temporary view named `customers`
made it read every organization's customers. Version 2 of the functions sets
`search_path = pg_catalog, pg_temp` and names the tables and functions of public by schema
(tenancy.rls.FUNCTIONS for the policies' two; the search's SQL is written here, so this
migration never changes). Backwards restores the earlier definitions.

Earlier code of crm.0013 skipped the trigram indexes, with a printed warning only, where the
owner could not create pg_trgm: they are built here (concurrently, resumable), after the same
check crm.0013 now makes first. PostgreSQL only.
"""
import importlib

from django.db import migrations

from tenancy.operations import ReplaceTenantFunctions

# Migration modules, not live app code.
inbox = importlib.import_module("crm.migrations.0013_inbox")
search_function = importlib.import_module("crm.migrations.0018_inbox_search_function")

CREATE = r"""
CREATE OR REPLACE FUNCTION public.wbcrm_search_customers(term text) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- Django's icontains: the term's \ % _ escaped, then UPPER(column) LIKE UPPER('%term%').
    pattern text := '%' || replace(replace(replace(upper(term), '\', '\\'), '%', '\%'), '_', '\_')
                    || '%';
    found uuid[];
BEGIN
    -- EXECUTE plans with the values known, so the planner picks the trigram indexes.
    EXECUTE 'SELECT coalesce(array_agg(id), ''{}'') FROM public.customers '
            'WHERE organization_id = $1 AND (upper(name::text) LIKE $2 '
            'OR upper(wa_id::text) LIKE $2 OR upper(phone_1::text) LIKE $2)'
        INTO found USING public.wbcrm_current_org(), pattern;
    RETURN found;
END
$$;
"""


def pin_search(apps, schema_editor) -> None:
    """Replace the search function (its grants stay: CREATE OR REPLACE keeps them)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no parameters: the SQL holds % signs


def unpin_search(apps, schema_editor) -> None:
    """Restore crm.0018's definition."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(search_function.CREATE, params=None)


class Migration(migrations.Migration):
    atomic = False  # the indexes are built concurrently

    dependencies = [("crm", "0020_number_ids_per_organization")]

    operations = [
        migrations.RunPython(inbox.require_search_extensions, migrations.RunPython.noop),
        # Already there (crm.0013 built them) is a no-op; backwards they stay, crm.0013's.
        migrations.RunPython(inbox.search_indexes, migrations.RunPython.noop),
        ReplaceTenantFunctions(2, 1),
        migrations.RunPython(pin_search, unpin_search, elidable=False),
    ]

"""The product catalog per organization, and outgoing webhook secrets encrypted at rest.

Catalog: categories, sub_categories and products get an optional organization_id, like templates
(crm.0009): an organization's own rows, and rows of none (every legacy row) that stay the shared
catalog every organization reads and only unscoped code (platform staff) writes. Row-level security
with shared rows readable (as crm.0014 for templates). The platform-wide uniques (categories.name
and slug, sub_categories.slug, products.sku) become unique per organization, each with a partial
unique among the shared rows. The columns are nullable without a default (instant); the catalog
is small, so its indexes are built in place. order_items.product_id, products.category_id /
sub_category_id and sub_categories.category_id get no composite same-tenant key (crm.0011): the
parent may be a shared row of no organization, which a key on (organization_id, id) cannot match;
the Python guards refuse another organization's parent, and the policies keep its rows unread.

Webhook secrets: webhook_subscriptions.secret held the signing secret in plain text; it now holds
a Fernet token (crm.integrations.crypto, keys from FIELD_ENCRYPTION_KEY). Fernet cannot run in
SQL, so this one data step cannot be set-based SQL: rows are read in keyset batches (by id), each
batch encrypted here with `cryptography` and the key from settings (never the app's own code,
which may change after this migration is written) and written back with one UPDATE per batch.
A plaintext secret starts with "whsec_", a Fernet token with "gAAAAA": only rows not yet
encrypted are touched, so a re-run encrypts nothing twice. The table holds one row per subscribed
URL, so the batches run inside the migration's transaction. Backwards decrypts the same way. Run
by the owner, which bypasses row-level security (README, "Row-level security").
"""
import json

from django.conf import settings
from django.db import migrations, models

from tenancy.operations import EnableRowLevelSecurity, LockTablesFirst

CATALOG = ["categories", "sub_categories", "products"]
BATCH_SIZE = 500
TOKEN_PREFIX = "gAAAAA"  # every Fernet token: version byte 0x80, base64


def _fernet():
    from cryptography.fernet import Fernet, MultiFernet

    keys = settings.FIELD_ENCRYPTION_KEY
    return MultiFernet([Fernet(key) for key in ([keys] if isinstance(keys, str) else keys)])


def _batches(connection, encrypted):
    """Keyset batches of (id, secret) of rows whose secret is (not) a Fernet token."""
    condition = "" if encrypted else "NOT "
    last = None
    while True:
        after = "" if last is None else "AND id > %s "
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, secret FROM webhook_subscriptions WHERE secret {condition}LIKE %s "
                f"{after}ORDER BY id LIMIT %s",
                [TOKEN_PREFIX + "%", *([] if last is None else [last]), BATCH_SIZE],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _write(connection, rows):
    """One UPDATE for the batch: each id gets its new secret."""
    cases = " ".join("WHEN %s THEN %s" for _ in rows)
    keys = ", ".join("%s" for _ in rows)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE webhook_subscriptions SET secret = CASE id {cases} END WHERE id IN ({keys})",
            [value for row in rows for value in row] + [key for key, _ in rows],
        )


def encrypt_secrets(apps, schema_editor):
    fernet = _fernet()
    for rows in _batches(schema_editor.connection, encrypted=False):
        _write(schema_editor.connection,
               [(key, fernet.encrypt(secret.encode()).decode()) for key, secret in rows])


def decrypt_secrets(apps, schema_editor):
    fernet = _fernet()
    for rows in _batches(schema_editor.connection, encrypted=True):
        _write(schema_editor.connection,
               [(key, fernet.decrypt(secret.encode()).decode()) for key, secret in rows])


# (table, column) of each platform-wide unique that becomes unique per organization.
PLATFORM_WIDE = [("categories", "name"), ("categories", "slug"), ("sub_categories", "slug"),
                 ("products", "sku")]
# The single-column, non-partial unique indexes on a column (constraint or bare index), and
# Django's pattern index beside a unique varchar, with their definitions; found in the catalog,
# whatever their names.
ON_COLUMN = """
SELECT i.relname, c.conname IS NOT NULL,
       CASE WHEN c.conname IS NULL THEN pg_get_indexdef(x.indexrelid)
            ELSE pg_get_constraintdef(c.oid) END
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
WHERE x.indrelid = to_regclass(%s) AND NOT x.indisprimary AND x.indpred IS NULL
  AND x.indnatts = 1 AND x.indkey[0] = (
      SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s)
  AND (x.indisunique OR i.relname LIKE '%%\\_like')
ORDER BY 1
"""


class DropPlatformWideUniques(migrations.operations.base.Operation):
    """The AlterFields' state; on PostgreSQL the uniques are dropped by what the catalog holds.

    wb-crm's databases keep products.sku unique by a bare index (ix_products_sku), the others by
    constraints; a fresh database by Django's constraints. Django's AlterField would drop an
    index as a constraint and fail, so the catalog decides. What was dropped is kept (JSON) in
    the comment of the shared partial unique that replaces it, so backwards restores each under
    its own name and definition. Elsewhere (SQLite) Django's own.
    """

    reversible = True

    def __init__(self, alterations):
        self.alterations = alterations

    def state_forwards(self, app_label, state):
        for alteration in self.alterations:
            alteration.state_forwards(app_label, state)

    def describe(self):
        return "Drop the catalog's platform-wide uniques"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            for alteration in self.alterations:
                alteration.database_forwards(app_label, schema_editor, from_state, to_state)
            return
        quote = connection.ops.quote_name
        for table, column in PLATFORM_WIDE:
            with connection.cursor() as cursor:
                cursor.execute(ON_COLUMN, [table, table, column])
                found = cursor.fetchall()
            if not found:
                continue
            schema_editor.execute(f"COMMENT ON INDEX {table}_shared_{column}_uniq IS %s",
                                  [json.dumps(found)])
            for name, constraint, _ in found:
                schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}"
                                      if constraint else f"DROP INDEX {quote(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            for alteration in reversed(self.alterations):
                alteration.database_backwards(app_label, schema_editor, from_state, to_state)
            return
        quote = connection.ops.quote_name
        for table, column in PLATFORM_WIDE:
            with connection.cursor() as cursor:
                cursor.execute("SELECT obj_description(to_regclass(%s), 'pg_class')",
                               [f"{table}_shared_{column}_uniq"])
                dropped = json.loads(cursor.fetchone()[0] or "[]") or [
                    [f"{table}_{column}_key", True, f"UNIQUE ({quote(column)})"]]
            for name, constraint, definition in dropped:
                schema_editor.execute(
                    f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
                    if constraint else definition)


def _organization():
    return models.ForeignKey(blank=True, null=True, on_delete=models.deletion.PROTECT,
                             related_name="+", to="crm.organization")


def _unique(model, table, *fields):
    suffix = "_".join(fields)
    return [
        migrations.AddConstraint(model_name=model, constraint=models.UniqueConstraint(
            fields=("organization", *fields), name=f"{table}_org_{suffix}_uniq")),
        migrations.AddConstraint(model_name=model, constraint=models.UniqueConstraint(
            condition=models.Q(("organization__isnull", True)), fields=fields,
            name=f"{table}_shared_{suffix}_uniq")),
    ]


class Migration(migrations.Migration):

    dependencies = [("crm", "0036_number_onboarding")]

    operations = [
        # wb-crm's tables, locked at once (a takeover while wb-crm writes: no deadlock).
        LockTablesFirst("categories", "sub_categories", "products"),
        *(migrations.AddField(model_name=model, name="organization", field=_organization())
          for model in ("category", "subcategory", "product")),
        *_unique("category", "categories", "name"),
        *_unique("category", "categories", "slug"),
        *_unique("subcategory", "sub_categories", "slug"),
        *_unique("product", "products", "sku"),
        # The platform-wide uniques go once their per-organization replacements exist.
        DropPlatformWideUniques([
            migrations.AlterField(model_name="category", name="name",
                                  field=models.CharField(max_length=120)),
            migrations.AlterField(model_name="category", name="slug",
                                  field=models.CharField(blank=True, max_length=140, null=True)),
            migrations.AlterField(model_name="subcategory", name="slug",
                                  field=models.CharField(blank=True, max_length=140, null=True)),
            migrations.AlterField(model_name="product", name="sku",
                                  field=models.CharField(blank=True, max_length=100, null=True)),
        ]),
        migrations.AddIndex(model_name="product", index=models.Index(
            fields=["organization", "name"], name="products_org_name_idx")),
        *(EnableRowLevelSecurity(table, shared_rows=True, version=2) for table in CATALOG),
        migrations.AlterField(model_name="webhooksubscription", name="secret",
                              field=models.TextField(editable=False)),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]

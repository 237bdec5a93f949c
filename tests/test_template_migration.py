"""crm.0009 on a wb-crm database: templates keyed per (organization, name, language).

A copy of the after-Alembic dump (planted rows: `welcome` shared, `promo` of organization A)
gains templates whose body names a language the way wb-crm stored Meta's objects. Every other
state's rows and catalog are compared before and after, and backwards, by test_legacy_migration;
so this one migrates as far as crm.0009 and back, not through every later migration.
"""
from __future__ import annotations

import hashlib
import json
import uuid

import psycopg2
import pytest

from tests.legacy import (
    AFTER_ALEMBIC,
    ORGS,
    LegacyDatabases,
    execute,
    manage,
    migrate,
    output,
    query,
    scratch_database,
)

pytestmark = pytest.mark.legacy

EXTRA = {
    "meta_pt": {"name": "meta_pt", "language": "pt_BR", "status": "APPROVED",
                "category": "MARKETING", "components": [{"type": "BODY", "text": "Olá {{1}}"}]},
    "meta_object": {"language": {"code": "de"}, "components": []},
}
ROWS = "SELECT template_name, organization_id::text, template_body, template_vars, " \
       "facebook_template_id FROM templates ORDER BY template_name"
BEFORE_0009 = "0008_customer_marketing_opt_out"
THROUGH_0009 = "0009_template_identity_per_organization"


def _stable_id(name: str) -> str:
    return str(uuid.UUID(hashlib.md5(f"crm.template:{name}".encode()).hexdigest()))


def _insert(db: str, name: str, organization: str | None, language: str = "en_US") -> None:
    execute(db, "INSERT INTO templates (id, template_name, language, template_body, "
            "template_vars, organization_id) VALUES (%s, %s, %s, '{}', '[]', %s)",
            [str(uuid.uuid4()), name, language, organization])


def test_legacy_templates_keep_rows_and_meaning_and_go_back(legacy: LegacyDatabases) -> None:
    with scratch_database(legacy.template(AFTER_ALEMBIC)) as db:
        for name, body in EXTRA.items():
            execute(db, "INSERT INTO templates (template_name, template_body, template_vars) "
                    "VALUES (%s, %s, '{}')", [name, json.dumps(body)])
        before = query(db, ROWS)
        run = migrate(db, target=THROUGH_0009)
        assert run.returncode == 0, output(run)
        assert "templates: 4 legacy rows keyed by id" in run.stdout
        assert query(db, ROWS) == before  # every row, its organization (or none) and body
        keyed = query(db, "SELECT template_name, id::text, language, category, status, "
                      "organization_id::text FROM templates ORDER BY 1")
        assert keyed == [
            ("meta_object", _stable_id("meta_object"), "de", None, None, None),
            ("meta_pt", _stable_id("meta_pt"), "pt_BR", "MARKETING", "APPROVED", None),
            ("promo", _stable_id("promo"), "en_US", None, None, ORGS["A"]),
            ("welcome", _stable_id("welcome"), "en_US", None, None, None),
        ]
        assert query(db, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                     "conrelid = 'templates'::regclass AND contype = 'p'") == [
            ("PRIMARY KEY (id)",)]

        # Both organizations may now have their own `welcome` beside the shared one ...
        _insert(db, "welcome", ORGS["A"])
        _insert(db, "welcome", ORGS["B"])
        _insert(db, "promo", ORGS["B"])
        # ... but not twice, and the shared rows stay unique among themselves.
        for organization in (ORGS["A"], None):
            with pytest.raises(psycopg2.errors.UniqueViolation):
                _insert(db, "welcome", organization)

        refused = manage(db, "migrate", "crm", BEFORE_0009, "--no-input")
        assert refused.returncode != 0
        assert "several templates are named promo, welcome" in refused.stderr, output(refused)
        execute(db, "DELETE FROM templates WHERE organization_id IS NOT NULL "
                "AND template_name IN ('welcome', 'promo') AND id::text NOT IN (%s, %s)",
                [_stable_id("welcome"), _stable_id("promo")])
        back = manage(db, "migrate", "crm", BEFORE_0009, "--no-input")
        assert back.returncode == 0, output(back)
        assert query(db, ROWS) == before
        assert query(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                     "'templates' AND column_name IN ('id', 'language', 'category', 'status')") \
            == [(0,)]
        again = migrate(db, target=THROUGH_0009)
        assert again.returncode == 0, output(again)
        assert query(db, "SELECT template_name, id::text FROM templates ORDER BY 1") == [
            (name, _stable_id(name)) for name in ("meta_object", "meta_pt", "promo", "welcome")]

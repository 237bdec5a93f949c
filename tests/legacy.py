"""Helpers for the wb-crm takeover tests: scratch databases, planted rows, manage.py, snapshots.

Nothing here uses Django's database connection: every database is a scratch PostgreSQL database
reached with psycopg2, and the migrations run in `manage.py` subprocesses, as in production.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import bcrypt
import psycopg2
import psycopg2.extensions

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "legacy"
PG_DSN = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
DB_PREFIX = "wbcrm_legacy_"

PRE_TENANCY = "pre_tenancy"
AFTER_ALEMBIC = "after_alembic"
HALF_DONE = "half_done"
STATES = (PRE_TENANCY, AFTER_ALEMBIC, HALF_DONE)
DUMPS = {
    PRE_TENANCY: "wbcrm_pre_tenancy.sql",
    AFTER_ALEMBIC: "wbcrm_after_alembic_tenancy.sql",
    HALF_DONE: "wbcrm_pre_tenancy.sql",
}

# organization_id before any tenancy migration.
ORIGINAL_ORG_TABLES = ("users", "customers", "whatsapp_numbers")
# The 21 tables that gain organization_id, in crm.0002's dependency order.
DERIVED_TABLES = (
    "messages", "campaigns", "jobs", "job_status", "orders", "order_items", "payments",
    "payment_transactions", "referrer_tracking", "customer_addresses",
    "address_collection_sessions", "templates", "campaign_recipients", "quick_replies", "leads",
    "zoho_mappings", "flow_logs", "campaign_logs", "whatsapp_api_logs", "zoho_payload_logs",
    "number_flow_configs",
)
TENANT_TABLES = ORIGINAL_ORG_TABLES + DERIVED_TABLES
UNTOUCHED_TABLES = ("order_events", "inventory_logs", "template_messages", "whatsapp_tokens")
# Modelled later than crm.0002 (crm.0015): organization_id from its campaign, in every state.
CAMPAIGN_CUSTOMERS = "campaign_customers"
SHARED_TABLES = (
    "organizations", "roles", "categories", "sub_categories", "products", "costs", "files",
)
LEGACY_TABLES = TENANT_TABLES + (CAMPAIGN_CUSTOMERS,) + UNTOUCHED_TABLES + SHARED_TABLES
MARKER = "added by crm.0002_organization_id"  # crm.0002's comment on the columns it adds

# "Half done": the Alembic migration (or an earlier run of ours) stopped part-way. Each table shows
# another partial shape; the other 14 derived tables have no column yet.
HALF_DONE_DDL = """
ALTER TABLE messages ADD COLUMN organization_id uuid;
CREATE INDEX ix_messages_organization_id ON messages (organization_id);
ALTER TABLE campaigns ADD COLUMN organization_id uuid;
ALTER TABLE campaigns ADD CONSTRAINT fk_campaigns_organization_id FOREIGN KEY (organization_id)
    REFERENCES organizations (id) NOT VALID;
ALTER TABLE jobs ADD COLUMN organization_id uuid;
ALTER TABLE orders ADD COLUMN organization_id uuid;
CREATE INDEX ix_orders_organization_id ON orders (organization_id);
ALTER TABLE orders ADD CONSTRAINT fk_orders_organization_id FOREIGN KEY (organization_id)
    REFERENCES organizations (id);
ALTER TABLE leads ADD COLUMN organization_id uuid;
CREATE INDEX ix_leads_organization_id ON leads (organization_id);
ALTER TABLE leads ADD CONSTRAINT fk_leads_organization_id FOREIGN KEY (organization_id)
    REFERENCES organizations (id) NOT VALID;
ALTER TABLE templates ADD COLUMN organization_id uuid;
ALTER TABLE quick_replies ADD COLUMN organization_id uuid;
COMMENT ON COLUMN quick_replies.organization_id IS 'added by crm.0002_organization_id';
CREATE INDEX quick_replies_organization_id_idx ON quick_replies (organization_id);
"""
HALF_DONE_TABLES = (
    "messages", "campaigns", "jobs", "orders", "leads", "templates", "quick_replies",
)
# Hand-made (not ours) objects of the half-done state: a backwards migration must keep them.
HALF_DONE_FOREIGN_OBJECTS = (
    "ix_messages_organization_id", "fk_campaigns_organization_id", "ix_orders_organization_id",
    "fk_orders_organization_id", "ix_leads_organization_id", "fk_leads_organization_id",
)

PRIMARY_KEYS = {
    "job_status": ("job_id", "customer_id"),
    "templates": ("template_name",),
    "costs": ("type",),
    "campaign_customers": ("campaign_id", "customer_id"),
    "template_messages": ("message_id", "template_id", "var_name"),
}

_NAMESPACE = uuid.UUID("6f1c8f52-57a4-4d8a-9a53-6c1d7f1e0b11")
PASSWORD = "secret-pw"
ROOT_PASSWORD = "root-pw"


def uid(name: str) -> str:
    """A stable UUID per planted row, so expectations can name the rows they mean."""
    return str(uuid.uuid5(_NAMESPACE, name))


ORGS = {"A": uid("org A"), "B": uid("org B")}
DANGLING = uid("nothing has this id")  # ids kept in columns without a database constraint


@cache
def passlib_hash(password: str = PASSWORD, prefix: bytes = b"2b") -> str:
    """A bcrypt hash as wb-crm's passlib writes it ($2b$...); cost 4 keeps the tests fast."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=prefix)).decode()


@dataclass(frozen=True)
class Plant:
    """One planted row and what the takeover must make of its organization_id."""

    table: str
    values: dict[str, Any]
    expect: str | None = None  # "A", "B" or None: the organization after migrating
    prefill: str | None = None  # organization_id written by hand where the column already exists
    why: str | None = None  # rows left NULL by a derivation: part of the reason the report gives
    disagrees: str | None = None  # the prefill contradicts this relation (tenancy_audit's label)

    @property
    def key(self) -> tuple[str, ...]:
        """The primary key, as text."""
        return tuple(str(self.values[c]) for c in PRIMARY_KEYS.get(self.table, ("id",)))


def has_org_column(table: str, state: str) -> bool:
    """Whether `table` has organization_id before our migrations run, in `state`."""
    return (
        table in ORIGINAL_ORG_TABLES
        or (state == AFTER_ALEMBIC and table in DERIVED_TABLES)
        or (state == HALF_DONE and table in HALF_DONE_TABLES)
    )


def is_prefilled(plant: Plant, state: str) -> bool:
    """Whether the row starts with an organization in `state`."""
    return plant.prefill is not None and has_org_column(plant.table, state)


def expected_org(plant: Plant, state: str) -> str | None:
    """The organization id the row must have after migrating `state` (a prefill is never
    overwritten)."""
    label = plant.prefill if is_prefilled(plant, state) else plant.expect
    return ORGS[label] if label else None


def _owned(table: str, org: str | None, why: str | None = None, **values: Any) -> Plant:
    """A row of a table that had organization_id all along."""
    return Plant(table, values, expect=org, prefill=org, why=why)


T0 = "2024-03-01 09:15:00"
T1 = "2024-03-02 17:45:30.123456"
ANCIENT = "1999-12-31 23:59:59"
c_a1, c_a2, c_b1, c_null = uid("c_a1"), uid("c_a2"), uid("c_b1"), uid("c_null")
WA = {c_a1: "919800000001", c_a2: "919800000002", c_b1: "919800000003", c_null: "919800000099"}
u_a, u_b, u_root = uid("u_a"), uid("u_b"), uid("u_root")
camp_a, camp_b, camp_p = uid("camp_a"), uid("camp_b"), uid("camp_p")
job_a1, job_b1, job_p = uid("job_a1"), uid("job_b1"), uid("job_p")
ord_a, ord_b, ord_orphan, ord_np = uid("ord_a"), uid("ord_b"), uid("ord_orphan"), uid("ord_np")
addr_a1, addr_b1, addr_null = uid("addr_a1"), uid("addr_b1"), uid("addr_null")
prod, cat, subcat = uid("product"), uid("category"), uid("sub_category")
# Rows of tables without a derivation: the report counts them; its wording is not pinned here.
NO_DERIVATION = None


def _message(id_: int, customer: str | None, expect: str | None, **extra: Any) -> Plant:
    """A messages row (serial key) in `customer`'s conversation."""
    return Plant("messages", {
        "id": id_, "message_id": f"wamid.{id_:04d}", "from_wa_id": WA.get(customer or "", "91"),
        "to_wa_id": "15550001111", "type": "text", "body": f"hello {id_} \u2713",
        "timestamp": T1, "customer_id": customer, "latitude": 12.9716, "longitude": 77.5946,
    }, expect=expect, **extra)


def _lead(name: str, customer: str | None, wa_id: str, expect: str | None, **extra: Any) -> Plant:
    """A leads row; customer_id has no database constraint in wb-crm."""
    return Plant("leads", {
        "id": uid(name), "zoho_lead_id": f"zl-{name}", "first_name": name, "phone": "98000",
        "wa_id": wa_id, "customer_id": customer, "appointment_details": {"slot": "10:00"},
        "created_at": T0,
    }, expect=expect, **extra)


def _api_log(name: str, campaign: str | None, job: str | None, expect: str | None,
             **extra: Any) -> Plant:
    """A whatsapp_api_logs row; campaign_id and job_id have no database constraints."""
    return Plant("whatsapp_api_logs", {
        "id": uid(name), "campaign_id": campaign, "job_id": job, "phone_number": "919800000001",
        "request_payload": {"to": "919800000001", "type": "template"},
        "response_body": {"messages": [{"id": "wamid.x"}]}, "response_status_code": 200,
        "request_time": T0, "created_at": T1,
    }, expect=expect, **extra)


def _by_wa_id(table: str, name: str, wa_id: str | None, expect: str | None,
              **extra: Any) -> Plant:
    """A flow_logs or zoho_payload_logs row (serial key from `name`), linked only by wa_id."""
    if table == "flow_logs":
        values = {"id": uid(name), "wa_id": wa_id, "flow_type": "treatment", "step": name,
                  "status_code": 200, "response_json": '{"ok": true}', "created_at": T0}
    else:
        values = {"id": int(name.rsplit("_", 1)[1]), "wa_id": wa_id, "lead_id": name,
                  "payload": {"data": [{"Last_Name": name}]}, "response": {"code": "SUCCESS"},
                  "status": "sent", "created_at": T1}
    return Plant(table, values, expect=expect, **extra)


PLANTS: tuple[Plant, ...] = (
    # Shared tables: no organization_id.
    Plant("organizations", {"id": ORGS["A"], "name": "Org A", "code": "org-a", "slug": "org-a",
                            "is_active": True, "created_at": T0}),
    Plant("organizations", {"id": ORGS["B"], "name": "Org B", "code": "org-b", "slug": "org-b",
                            "is_active": True, "created_at": T0}),
    Plant("roles", {"id": uid("role admin"), "name": "ORG_ADMIN", "display_name": "Admin",
                    "is_active": True}),
    Plant("costs", {"type": "template", "price": 0.785}),
    Plant("categories", {"id": cat, "name": "Skin", "slug": "skin", "created_at": T0}),
    Plant("sub_categories", {"id": subcat, "category_id": cat, "name": "Acne"}),
    Plant("products", {"id": prod, "name": "Serum", "sku": "SER-1", "price": 499.5, "stock": 7,
                       "category_id": cat, "sub_category_id": subcat}),
    Plant("files", {"id": "media-1", "name": "brochure.pdf", "mimetype": "application/pdf",
                    "created_at": "2024-03-01 09:15:00+05:30"}),
    # Tables with organization_id from the start.
    _owned("users", "A", id=u_a, username="alice", password=passlib_hash(), first_name="Alice",
           last_name="A", phone_number="100", email="alice@a.test", role="ADMIN",
           role_id=uid("role admin"), created_at=T0, updated_at=T1),
    _owned("users", "B", id=u_b, username="bob", password=passlib_hash(), first_name="Bob",
           last_name="B", phone_number="200", email="bob@b.test", role="AGENT", created_at=T0),
    _owned("users", None, NO_DERIVATION, id=u_root, username="root",
           password=passlib_hash(ROOT_PASSWORD, b"2a"), first_name="Root", last_name="R",
           phone_number="300", email="root@platform.test", role="SUPER_ADMIN"),
    _owned("users", "A", id=uid("u_disabled"), username="disabled", password="!", first_name="D",
           last_name="D", phone_number="400", email="d@a.test", role="AGENT"),
    _owned("customers", "A", id=c_a1, wa_id=WA[c_a1], name="Asha", customer_status="open",
           user_id=u_a, created_at=T0, last_message_at=T1),
    _owned("customers", "A", id=c_a2, wa_id=WA[c_a2], name="Arun", customer_status="pending"),
    _owned("customers", "B", id=c_b1, wa_id=WA[c_b1], name="Bina", customer_status="resolved",
           email="bina@example.com"),
    # The one customer with this wa_id has no organization: matches on it stay NULL.
    _owned("customers", None, NO_DERIVATION, id=c_null, wa_id=WA[c_null], name="Nobody",
           customer_status="open"),
    _owned("whatsapp_numbers", "A", id=uid("wn_a"), phone_number_id="PNID-A", is_active=True,
           display_number="+91 98000 00001", access_token="tok-a"),
    _owned("whatsapp_numbers", "B", id=uid("wn_b"), phone_number_id="PNID-B", is_active=False),
    # customer_addresses before messages etc.: customers.default_address_id points here.
    Plant("customer_addresses", {
        "id": addr_a1, "customer_id": c_a1, "full_name": "Asha", "house_street": "1 MG Rd",
        "locality": "Indiranagar", "city": "Bengaluru", "state": "KA", "pincode": "560038",
        "phone": "9800000001", "latitude": 12.97, "is_default": True, "created_at": T0,
    }, expect="A"),
    Plant("customer_addresses", {
        "id": addr_b1, "customer_id": c_b1, "full_name": "Bina", "house_street": "2 Link Rd",
        "locality": "Andheri", "city": "Mumbai", "state": "MH", "pincode": "400053",
        "phone": "9800000003",
    }, expect="B"),
    Plant("customer_addresses", {
        "id": addr_null, "customer_id": c_null, "full_name": "Nobody", "house_street": "-",
        "locality": "-", "city": "-", "state": "-", "pincode": "000000", "phone": "0",
    }, why="the customers row has no organization"),
    # Messages: enough rows for several backfill batches.
    _message(1, c_a1, "A", prefill="A"),
    _message(2, c_b1, "B"),
    _message(3, None, None, why="customer_id is NULL"),
    _message(4, c_null, None, why="the customers row has no organization"),
    _message(5, c_a2, "A"),
    _message(6, c_a2, "A"),
    _message(7, c_b1, "B"),
    # A pre-filled wrong value: never overwritten, reported by the audit.
    _message(8, c_a1, "A", prefill="B", disagrees="customer"),
    # Set by hand where nothing can be derived: kept.
    _message(9, None, None, prefill="A", why="customer_id is NULL"),
    _message(10, c_a1, "A"),
    Plant("campaigns", {
        "id": camp_a, "name": "Diwali", "description": "festive \u20b9 offers", "created_at": T0,
        "updated_at": T1, "created_by": u_a, "updated_by": u_a, "campaign_cost_type": "template",
        "content": {"name": "diwali", "language": {"code": "en"}, "components": [1, 2.5, None]},
        "type": "template", "status": "sent",
    }, expect="A", prefill="A"),
    Plant("campaigns", {"id": camp_b, "name": "Hello", "created_by": u_b, "type": "text",
                        "content": {"body": "hi"}, "created_at": ANCIENT}, expect="B"),
    Plant("campaigns", {"id": camp_p, "name": "Platform", "created_by": u_root,
                        "type": "interactive"}, why="the users row has no organization"),
    Plant("jobs", {"id": job_a1, "campaign_id": camp_a, "created_at": T0,
                   "last_attempted_by": u_a, "last_triggered_time": T1}, expect="A"),
    Plant("jobs", {"id": job_b1, "campaign_id": camp_b}, expect="B"),
    Plant("jobs", {"id": job_p, "campaign_id": camp_p},
          why="the campaigns row has no organization"),
    Plant("job_status", {"job_id": job_a1, "customer_id": c_a1, "status": "success"},
          expect="A"),
    Plant("job_status", {"job_id": job_a1, "customer_id": c_a2, "status": "failure"},
          expect="A"),
    Plant("job_status", {"job_id": job_b1, "customer_id": c_b1, "status": "pending"},
          expect="B"),
    Plant("job_status", {"job_id": job_p, "customer_id": c_null, "status": "pending"},
          why="the customers row has no organization"),
    Plant("orders", {"id": ord_a, "customer_id": c_a1, "catalog_id": "cat-1", "timestamp": T0,
                     "shipping_address_id": addr_a1, "status": "paid",
                     "payment_completed_at": T1}, expect="A", prefill="A"),
    Plant("orders", {"id": ord_b, "customer_id": c_b1, "status": "pending"}, expect="B"),
    Plant("orders", {"id": ord_orphan, "customer_id": None}, why="customer_id is NULL"),
    Plant("orders", {"id": ord_np, "customer_id": c_null},
          why="the customers row has no organization"),
    Plant("order_items", {"id": 1, "order_id": ord_a, "product_id": prod, "quantity": 2,
                          "price": 499.5, "total_price": 999.0, "currency": "INR",
                          "is_modification_addition": False}, expect="A"),
    Plant("order_items", {"id": 2, "order_id": ord_b, "quantity": 1,
                          "is_modification_addition": True, "modification_timestamp": T1},
          expect="B"),
    Plant("order_items", {"id": 3, "order_id": None, "quantity": 1,
                          "is_modification_addition": False}, why="order_id is NULL"),
    Plant("order_items", {"id": 4, "order_id": ord_orphan, "quantity": 3,
                          "is_modification_addition": False},
          why="the orders row has no organization"),
    Plant("payments", {"id": uid("pay_a"), "order_id": ord_a, "amount": 999.0, "currency": "INR",
                       "status": "captured", "razorpay_id": "pay_1", "notification_sent": True},
          expect="A"),
    Plant("payments", {"id": uid("pay_b"), "order_id": ord_b, "amount": 10.0, "currency": "INR",
                       "status": "created"}, expect="B"),
    Plant("payments", {"id": uid("pay_orphan"), "order_id": None, "amount": 1.0, "currency": "INR",
                       "status": "failed"}, why="order_id is NULL"),
    Plant("payments", {"id": uid("pay_np"), "order_id": ord_np, "amount": 2.0, "currency": "INR",
                       "status": "failed"}, why="the orders row has no organization"),
    Plant("payment_transactions", {
        "id": uid("pt_a"), "transaction_id": "tx-1", "order_id": ord_a, "payment_method": "upi",
        "payment_gateway": "razorpay", "amount": 999.0, "currency": "INR",
        "gateway_response": {"status": "captured", "fee": 23.6, "notes": []}, "created_at": T0,
    }, expect="A"),
    Plant("payment_transactions", {
        "id": uid("pt_b"), "transaction_id": "tx-2", "order_id": ord_b, "payment_method": "card",
        "payment_gateway": "razorpay", "amount": 10.0,
    }, expect="B"),
    Plant("payment_transactions", {
        "id": uid("pt_none"), "transaction_id": "tx-3", "order_id": None,
        "payment_method": "cash", "payment_gateway": "none", "amount": 5.0,
    }, why="order_id is NULL"),
    Plant("referrer_tracking", {"id": 1, "wa_id": WA[c_a1], "center_name": "Indiranagar",
                                "customer_id": c_a1, "appointment_date": T1,
                                "is_appointment_booked": True}, expect="A"),
    Plant("referrer_tracking", {"id": 2, "wa_id": WA[c_b1], "customer_id": None},
          why="customer_id is NULL"),
    Plant("referrer_tracking", {"id": 3, "customer_id": c_b1}, expect="B"),
    Plant("address_collection_sessions", {
        "id": uid("acs_a"), "customer_id": c_a1, "order_id": ord_a, "status": "completed",
        "session_data": {"step": 3, "fields": {"city": "Bengaluru"}}, "created_at": T0,
        "completed_at": T1,
    }, expect="A"),
    Plant("address_collection_sessions", {"id": uid("acs_b"), "customer_id": c_b1},
          expect="B"),
    Plant("address_collection_sessions", {"id": uid("acs_null"), "customer_id": c_null},
          why="the customers row has no organization"),
    Plant("templates", {"template_name": "welcome", "template_body": {"components": []},
                        "template_vars": ["name"], "facebook_template_id": "fb-1"},
          why=NO_DERIVATION),
    Plant("templates", {"template_name": "promo", "template_body": {"text": "{{1}} off"},
                        "template_vars": {"1": "discount"}}, prefill="A", why=NO_DERIVATION),
    Plant("campaign_recipients", {"id": uid("cr_a"), "campaign_id": camp_a,
                                  "phone_number": WA[c_a1], "name": "Asha",
                                  "params": {"1": "Asha"}, "status": "sent"}, expect="A"),
    Plant("campaign_recipients", {"id": uid("cr_b"), "campaign_id": camp_b,
                                  "phone_number": WA[c_b1]}, expect="B"),
    Plant("campaign_recipients", {"id": uid("cr_none"), "campaign_id": None,
                                  "phone_number": "1"}, why="campaign_id is NULL"),
    Plant("campaign_recipients", {"id": uid("cr_p"), "campaign_id": camp_p,
                                  "phone_number": "2"},
          why="the campaigns row has no organization"),
    Plant("quick_replies", {"id": uid("qr_a"), "title": "Hi", "content": "Hello!",
                            "category": "greet", "created_by": u_a}, expect="A", prefill="A"),
    Plant("quick_replies", {"id": uid("qr_b"), "title": "Bye", "content": "Bye!",
                            "created_by": u_b}, expect="B"),
    Plant("quick_replies", {"id": uid("qr_none"), "title": "?", "content": "?",
                            "created_by": None}, why="created_by is NULL"),
    Plant("quick_replies", {"id": uid("qr_root"), "title": "!", "content": "!",
                            "created_by": u_root}, why="the users row has no organization"),
    _lead("lead_cust_a", c_a1, "910000000000", "A"),
    # customer_id wins over a wa_id that names a customer of another organization.
    _lead("lead_cust_b", c_b1, WA[c_a1], "B"),
    _lead("lead_wa_a", None, WA[c_a2], "A", prefill="A"),
    _lead("lead_wa_b", None, WA[c_b1], "B"),
    # customer_id without FK, pointing at nothing; wa_id is only tried when customer_id is NULL.
    _lead("lead_dangling", DANGLING, "910000000001", None,
          why="customer_id points at no customers row"),
    _lead("lead_dangling_wa", uid("another missing customer"), WA[c_a1], None,
          why="customer_id points at no customers row"),
    _lead("lead_cust_null", c_null, WA[c_a1], None, why="the customers row has no organization"),
    _lead("lead_wa_null", None, WA[c_null], None, why="several organizations, or one without"),
    _lead("lead_wa_none", None, "910000000002", None, why="no customers row with this wa_id"),
    Plant("zoho_mappings", {"id": uid("zm_shared"), "treatment_name": "Acne",
                            "zoho_name": "Acne Treatment", "created_at": T0}, why=NO_DERIVATION),
    Plant("zoho_mappings", {"id": uid("zm_b"), "treatment_name": "Hair",
                            "zoho_name": "Hair Loss", "zoho_sub_concern": "Dandruff"},
          prefill="B", why=NO_DERIVATION),
    _by_wa_id("flow_logs", "fl_a", WA[c_a1], "A"),
    _by_wa_id("flow_logs", "fl_b", WA[c_b1], "B"),
    _by_wa_id("flow_logs", "fl_wrong", WA[c_a2], "A", prefill="B",
              disagrees="wa_id -> crm.Customer.wa_id"),
    _by_wa_id("flow_logs", "fl_null_org", WA[c_null], None,
              why="several organizations, or one without"),
    _by_wa_id("flow_logs", "fl_no_match", "910000000003", None, prefill="A",
              why="no customers row with this wa_id"),
    _by_wa_id("flow_logs", "fl_no_wa", None, None, why="wa_id is NULL"),
    Plant("campaign_logs", {
        "id": uid("cl_a"), "campaign_id": camp_a, "job_id": job_a1, "target_type": "customer",
        "target_id": c_a1, "status": "sent", "request_payload": {"to": WA[c_a1]},
        "response_data": {"messages": [{"id": "wamid.1"}]}, "http_status_code": 200,
        "processing_time_ms": 120, "created_at": T0, "retry_count": 0,
    }, expect="A"),
    Plant("campaign_logs", {"id": uid("cl_b"), "campaign_id": camp_b, "job_id": job_b1,
                            "target_type": "recipient", "status": "failed",
                            "error_code": "131026", "error_message": "undeliverable"},
          expect="B"),
    Plant("campaign_logs", {"id": uid("cl_p"), "campaign_id": camp_p, "job_id": job_p,
                            "target_type": "customer", "status": "queued"},
          why="the campaigns row has no organization"),
    _api_log("wal_campaign_a", camp_a, job_a1, "A"),
    _api_log("wal_job_b", None, job_b1, "B"),
    _api_log("wal_dangling_campaign_job_a", DANGLING, job_a1, "A"),
    _api_log("wal_wrong", camp_a, None, "A", prefill="B", disagrees="campaign"),
    _api_log("wal_none", None, None, None, why="campaign_id is NULL; job_id is NULL"),
    _api_log("wal_dangling", DANGLING, DANGLING, None,
             why="campaign_id points at no campaigns row; job_id points at no jobs row"),
    _api_log("wal_platform", camp_p, None, None,
             why="the campaigns row has no organization; job_id is NULL"),
    _by_wa_id("zoho_payload_logs", "zpl_1", WA[c_a1], "A"),
    _by_wa_id("zoho_payload_logs", "zpl_2", WA[c_b1], "B"),
    _by_wa_id("zoho_payload_logs", "zpl_3", WA[c_null], None,
              why="several organizations, or one without"),
    _by_wa_id("zoho_payload_logs", "zpl_4", "910000000004", None,
              why="no customers row with this wa_id"),
    _by_wa_id("zoho_payload_logs", "zpl_5", None, None, why="wa_id is NULL"),
    _by_wa_id("zoho_payload_logs", "zpl_6", WA[c_a2], "A"),
    Plant("number_flow_configs", {
        "id": uid("nfc_a"), "phone_number_id": "PNID-A", "display_number": "+91 98000 00001",
        "display_digits": "9800000001", "flow_key": "treatment", "flow_name": "Treatment",
        "priority": 1, "is_enabled": True, "auto_enable_from": T0, "auto_enable_to": T1,
    }, expect="A"),
    Plant("number_flow_configs", {"id": uid("nfc_b"), "phone_number_id": "PNID-B",
                                  "display_number": "x", "flow_key": "lead",
                                  "flow_name": "Lead"}, expect="B"),
    Plant("number_flow_configs", {"id": uid("nfc_gone"), "phone_number_id": "PNID-GONE",
                                  "display_number": "y", "flow_key": "old", "flow_name": "Old"},
          why="phone_number_id points at no whatsapp_numbers row"),
    # The five tables the port leaves untouched.
    Plant("campaign_customers", {"campaign_id": camp_a, "customer_id": c_a1}),
    Plant("campaign_customers", {"campaign_id": camp_b, "customer_id": c_b1}),
    Plant("order_events", {"id": uid("oe"), "order_id": ord_a, "event_type": "paid",
                           "event_data": {"amount": 999.0}, "created_at": T1}),
    Plant("inventory_logs", {"id": uid("il"), "product_id": prod, "quantity_change": -2,
                             "reason": "order", "order_id": ord_a, "created_at": T1}),
    Plant("template_messages", {"message_id": "wamid.0001", "template_id": "fb-1",
                                "var_name": "name", "var_val": "Asha"}),
    Plant("whatsapp_tokens", {"id": uid("tok"), "token": "EAAG-secret", "created_at": T0}),
)
# Links that close a cycle of foreign keys, set once both rows exist.
FIXUPS = (
    f"UPDATE customers SET default_address_id = '{addr_a1}' WHERE id = '{c_a1}'",
    f"UPDATE campaigns SET last_job_id = '{job_a1}' WHERE id = '{camp_a}'",
    "SELECT setval('messages_id_seq', 10), setval('order_items_id_seq', 4), "
    "setval('referrer_tracking_id_seq', 3), setval('zoho_payload_logs_id_seq', 6)",
)
BY_TABLE: dict[str, list[Plant]] = {}
for _plant in PLANTS:
    BY_TABLE.setdefault(_plant.table, []).append(_plant)
assert set(BY_TABLE) == set(LEGACY_TABLES), "every legacy table gets rows"


def _literal(value: Any) -> str:
    """An SQL literal; untyped strings let PostgreSQL cast to the column's type (enum, jsonb)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    if not isinstance(value, str):
        value = json.dumps(value)
    return "'" + value.replace("'", "''") + "'"


def plant_sql(state: str) -> str:
    """The INSERTs that plant PLANTS into a database in `state` (prefills where the column is)."""
    statements = []
    for plant in PLANTS:
        values = dict(plant.values)
        if is_prefilled(plant, state):
            values["organization_id"] = ORGS[plant.prefill or ""]
        statements.append(
            f"INSERT INTO {plant.table} ({', '.join(values)}) "
            f"VALUES ({', '.join(_literal(v) for v in values.values())})"
        )
    return ";\n".join([*statements, *FIXUPS]) + ";\n"


def expected_orgs(table: str, state: str) -> dict[tuple[str, ...], str | None]:
    """{primary key: organization id} every planted row of `table` must end with."""
    return {p.key: expected_org(p, state) for p in BY_TABLE[table]}


def expected_nulls(table: str, state: str) -> Counter[str | None]:
    """Rows of `table` left NULL after migrating `state`, counted by reason (None: unpinned)."""
    return Counter(p.why for p in BY_TABLE[table] if expected_org(p, state) is None)


def expected_derived(table: str, state: str) -> int:
    """Rows of `table` that the run itself gives an organization."""
    return sum(
        1 for p in BY_TABLE[table]
        if expected_org(p, state) is not None and not is_prefilled(p, state)
    )


def expected_disagreement_keys(state: str) -> dict[tuple[str, str], list[str]]:
    """(table, relation): the keys tenancy_audit must name (composite keys joined by `|`)."""
    found: dict[tuple[str, str], list[str]] = {}
    for p in PLANTS:
        if p.disagrees and is_prefilled(p, state):
            found.setdefault((p.table, p.disagrees), []).append("|".join(p.key))
    return {relation: sorted(keys) for relation, keys in found.items()}


def expected_disagreements(state: str) -> Counter[tuple[str, str]]:
    """(table, relation) pairs tenancy_audit must report, with row counts."""
    return Counter(
        (p.table, p.disagrees) for p in PLANTS if p.disagrees and is_prefilled(p, state)
    )


# --- Databases ---------------------------------------------------------------------------------


def connect(dbname: str, autocommit: bool = True) -> psycopg2.extensions.connection:
    """A psycopg2 connection to `dbname` on the test server."""
    conn = psycopg2.connect(dbname=dbname, **PG_DSN)
    conn.autocommit = autocommit
    return conn


@contextmanager
def cursor(dbname: str) -> Iterator[psycopg2.extensions.cursor]:
    """An autocommit cursor, its connection closed afterwards (templates must be idle)."""
    conn = connect(dbname)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def create_database(template: str | None = None) -> str:
    """Create an empty (or copied) scratch database with a unique name."""
    name = f"{DB_PREFIX}{uuid.uuid4().hex[:8]}"
    with cursor("postgres") as cur:
        cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def drop_database(name: str) -> None:
    """Drop a scratch database, whoever is still connected."""
    assert name.startswith(DB_PREFIX)
    with cursor("postgres") as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_database(template: str | None = None) -> Iterator[str]:
    """A scratch database dropped on exit, even when the test fails."""
    name = create_database(template)
    try:
        yield name
    finally:
        drop_database(name)


def build_state(dbname: str, state: str) -> None:
    """Load the dump of `state` into an empty database, then plant the rows."""
    with cursor(dbname) as cur:
        # The dump empties search_path for its own session: this connection ends with it.
        cur.execute((FIXTURES / DUMPS[state]).read_text())
    with cursor(dbname) as cur:
        if state == HALF_DONE:
            cur.execute(HALF_DONE_DDL)
        cur.execute(plant_sql(state))


def terminate_backends(dbname: str, keep: tuple[int, ...] = ()) -> None:
    """End every session on `dbname` but `keep`, and wait until they are gone."""
    with cursor("postgres") as cur:
        query = (
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> ALL(%s::int[])"
        )
        deadline = time.monotonic() + 30
        while True:
            cur.execute(query, [dbname, list(keep)])
            pids = [pid for (pid,) in cur.fetchall()]
            if not pids:
                return
            assert time.monotonic() < deadline, f"sessions on {dbname} would not end: {pids}"
            cur.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [pids])
            time.sleep(0.05)


def applied_migrations(dbname: str, app: str = "crm") -> list[str]:
    """Names of the migrations of `app` recorded in django_migrations."""
    with cursor(dbname) as cur:
        cur.execute("SELECT name FROM django_migrations WHERE app = %s ORDER BY name", [app])
        return [name for (name,) in cur.fetchall()]


def query(dbname: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    """All rows of one query."""
    with cursor(dbname) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


# --- manage.py ---------------------------------------------------------------------------------


def manage_env(dbname: str, batch_size: int = 3, **extra: str) -> dict[str, str]:
    """The environment of a production-like manage.py run against `dbname`."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{PG_DSN['user']}@{PG_DSN['host']}:{PG_DSN['port']}/{dbname}",
        DJANGO_SETTINGS_MODULE="crm.settings",
        TENANCY_BACKFILL_BATCH_SIZE=str(batch_size),
        PYTHONUNBUFFERED="1",  # lines arrive as printed: kill points depend on it
        **extra,
    )
    return env


def manage(dbname: str, *args: str, batch_size: int = 3,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `manage.py *args` in a subprocess; stdout and stderr are kept apart."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=manage_env(dbname, batch_size),
        capture_output=True, text=True, timeout=timeout,
    )


MIGRATE = ("migrate", "--fake-initial", "--no-input")
# The last of the migrations that take a legacy database over (organization columns, back-fill,
# keys): an interrupted run stops in one of them. Those after it run the same on any database.
TAKEOVER_END = "0011_same_tenant_keys"


def migrate(dbname: str, batch_size: int = 3,
            target: str | None = None) -> subprocess.CompletedProcess[str]:
    """`manage.py migrate --fake-initial --no-input`, or up to crm's `target` only."""
    return manage(dbname, *MIGRATE, *(("crm", target) if target else ()), batch_size=batch_size)


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Both streams of a finished run, for assertion messages."""
    return f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@dataclass(frozen=True)
class Hold:
    """A lock a test session takes in an open transaction, and the migration statement that must
    wait for it (a regular expression of pg_stat_activity.query)."""

    lock: str
    waiter: str


def table_lock(table: str, waiter: str) -> Hold:
    """ROW EXCLUSIVE on `table`, what any writer holds: DDL and concurrent index builds wait."""
    return Hold(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE", waiter)


def row_lock(table: str, key: str, waiter: str) -> Hold:
    """The `table` row whose id is `key`, locked FOR UPDATE: an UPDATE of that row waits."""
    return Hold(f"SELECT 1 FROM {table} WHERE id = '{key}' FOR UPDATE", waiter)


@dataclass(frozen=True)
class KillPoint:
    """Where a migrate run is SIGKILLed: while it provably waits for the last of `holds`.

    The first lock is taken before the run starts. Once the run waits for lock i at its statement,
    lock i+1 is taken and lock i released: a lock that an earlier statement would also wait for is
    taken only once the run is parked past that statement. `after`: a line the run must have
    printed before the kill. `landed`: an SQL condition true where the kill must land."""

    name: str
    holds: tuple[Hold, ...]
    after: str | None = None
    landed: str = "true"


def _hold(dbname: str, hold: Hold) -> psycopg2.extensions.connection:
    """A session holding `hold`'s lock in an open transaction."""
    conn = connect(dbname, autocommit=False)
    with conn.cursor() as cur:
        # The run holds nothing this lock waits for (see KillPoint): waiting would be a bad point.
        cur.execute("SET LOCAL lock_timeout = '30s'")
        cur.execute(hold.lock)
    return conn


def _release(conn: psycopg2.extensions.connection) -> None:
    """End a holding session, and with it its lock."""
    conn.rollback()
    conn.close()


def _wait_for_waiter(dbname: str, proc: subprocess.Popen[str], holder: int, hold: Hold,
                     timeout: float = 180) -> None:
    """Return once a statement matching `hold.waiter` waits for the lock session `holder` holds
    (pg_blocking_pids names it); fail when the run ends, or never waits there (a loaded machine
    may take a minute or more to start `migrate` and reach it)."""
    deadline = time.monotonic() + timeout
    elsewhere: set[str] = set()
    with cursor("postgres") as cur:
        while True:
            cur.execute(
                "SELECT query FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock' AND %s = ANY(pg_blocking_pids(pid))",
                [dbname, holder],
            )
            waiting = [statement for (statement,) in cur.fetchall()]
            if any(re.search(hold.waiter, statement) for statement in waiting):
                return
            elsewhere.update(waiting)
            assert proc.poll() is None, (
                f"the run ended ({proc.returncode}) without waiting for {hold.lock!r}"
            )
            assert time.monotonic() < deadline, (
                f"no statement matching {hold.waiter!r} waited for {hold.lock!r} within "
                f"{timeout:.0f}s; statements that did: {sorted(elsewhere)}"
            )
            # PostgreSQL announces no lock wait: poll for it.
            time.sleep(0.02)


def migrate_and_kill(dbname: str, point: KillPoint, batch_size: int = 1) -> str:
    """Start migrate, SIGKILL it while it waits at `point`, end its server session too; return
    its output."""
    holders = [_hold(dbname, point.holds[0])]
    # A generous lock timeout: the run must wait for our lock, not give up on it.
    env = manage_env(dbname, batch_size, TENANCY_LOCK_TIMEOUT="120s")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *MIGRATE], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    # Read as it comes: a full pipe would park the run on a write instead of on our lock.
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        for i, hold in enumerate(point.holds):
            _wait_for_waiter(dbname, proc, holders[-1].get_backend_pid(), hold)
            if i + 1 < len(point.holds):
                holders.append(_hold(dbname, point.holds[i + 1]))
                _release(holders.pop(-2))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (
            f"the run ended by itself ({proc.returncode}) before the kill:\n{''.join(lines)}"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=30)
        proc.stdout.close()
        # A killed client leaves its server session running its statement: a crash ends both.
        terminate_backends(dbname, keep=tuple(h.get_backend_pid() for h in holders))
        for holder in holders:
            _release(holder)
    assert not reader.is_alive(), "the killed run's output never ended"
    killed = "".join(lines)
    assert point.after is None or re.search(point.after, killed), (
        f"the run never printed {point.after!r} before the kill:\n{killed}"
    )
    return killed


# --- Reports -----------------------------------------------------------------------------------

_REPORT_TABLE = re.compile(r"^  (\w+)\s+derived\s+(\d+)\s+left NULL\s+(\d+)$")
_REPORT_REASON = re.compile(r"^      \s*(\d+)  (.+)$")


@dataclass
class TableReport:
    """One table of crm.0002's closing report."""

    derived: int
    left_null: int
    reasons: list[tuple[int, str]] = field(default_factory=list)


def parse_report(stdout: str) -> dict[str, TableReport]:
    """crm.0002's report (rows derived, rows left NULL and why) from migrate's output."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("organization_id report")]
    assert starts, f"no organization_id report in:\n{stdout}"
    report: dict[str, TableReport] = {}
    current = None
    for line in lines[starts[-1] + 1:]:
        if match := _REPORT_TABLE.match(line):
            current = report[match[1]] = TableReport(int(match[2]), int(match[3]))
        elif (match := _REPORT_REASON.match(line)) and current is not None:
            current.reasons.append((int(match[1]), match[2]))
        else:
            break
    return report


# --- Snapshots ---------------------------------------------------------------------------------


def primary_key(cur: psycopg2.extensions.cursor, table: str) -> list[str]:
    """The primary-key columns of `table`, from the catalog."""
    cur.execute(
        "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(n, o) "
        "ON true JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY k.o",
        [table],
    )
    return [name for (name,) in cur.fetchall()]


def table_rows(dbname: str, tables: tuple[str, ...] = LEGACY_TABLES) -> dict[str, list[dict]]:
    """Every row of `tables` as {column: value} (JSON-normalised), ordered by primary key."""
    rows = {}
    with cursor(dbname) as cur:
        for table in tables:
            order = ", ".join(f't."{c}"' for c in primary_key(cur, table))
            cur.execute(f"SELECT to_jsonb(t) FROM {table} t ORDER BY {order}")
            rows[table] = [row for (row,) in cur.fetchall()]
    return rows


SCHEMA_QUERIES = {
    # Live columns in their relative order: a dropped-and-re-added column lands last either way.
    "columns": """
        SELECT c.relname, row_number() OVER (PARTITION BY c.relname ORDER BY a.attnum),
               a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relname = ANY(%(tables)s)""",
    "indexes": """
        SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid, x.indisready,
               x.indisunique, x.indisprimary
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND t.relname = ANY(%(tables)s)""",
    "constraints": """
        SELECT t.relname, con.conname, con.contype, pg_get_constraintdef(con.oid),
               con.convalidated, con.condeferrable, con.condeferred
        FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND t.relname = ANY(%(tables)s)""",
    "enums": """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[]
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname""",
}


def public_tables(dbname: str) -> tuple[str, ...]:
    """Every table of the public schema (legacy and Django's own)."""
    rows = query(dbname, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return tuple(sorted(name for (name,) in rows))


def schema(dbname: str, tables: tuple[str, ...] | None = None) -> dict[str, list[tuple]]:
    """Columns, indexes (definition, validity), constraints (validation) and enums of `tables`
    (default: all public tables), from pg_catalog."""
    tables = tables or public_tables(dbname)
    found = {}
    with cursor(dbname) as cur:
        for part, sql in SCHEMA_QUERIES.items():
            cur.execute(sql, {"tables": list(tables)})
            found[part] = sorted(tuple(row) for row in cur.fetchall())
    return found


@dataclass
class Snapshot:
    """Schema and rows of a database at one moment."""

    schema: dict[str, list[tuple]]
    rows: dict[str, list[dict]]

    @classmethod
    def take(cls, dbname: str, tables: tuple[str, ...] | None = None) -> Snapshot:
        """Schema of `tables` (default: every public table), rows of every legacy table."""
        return cls(schema(dbname, tables), table_rows(dbname))


def diff(expected: Any, actual: Any, path: str = "", limit: int = 20) -> list[str]:
    """Readable differences between two nested structures (at most `limit`)."""
    found: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(found) >= limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in a or key not in b:
                    found.append(f"{where}/{key}: {a.get(key, '<missing>')!r} != "
                                 f"{b.get(key, '<missing>')!r}")
                else:
                    walk(a[key], b[key], f"{where}/{key}")
        elif isinstance(a, list) and isinstance(b, list) and all(
            isinstance(x, tuple) for x in a + b
        ):
            sa, sb = set(a), set(b)
            found.extend(f"{where}: only expected {x!r}" for x in sorted(sa - sb, key=repr))
            found.extend(f"{where}: only actual {x!r}" for x in sorted(sb - sa, key=repr))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        else:
            found.append(f"{where}: {a!r} != {b!r}")

    walk(expected, actual, path)
    return found[:limit]


def execute(dbname: str, sql: str, params: Any = None) -> None:
    """Run one statement in autocommit."""
    with cursor(dbname) as cur:
        cur.execute(sql, params)


def row_key(table: str, row: dict[str, Any]) -> tuple[str, ...]:
    """A snapshot row's primary key, as text (the same shape as Plant.key)."""
    return tuple(str(row[c]) for c in PRIMARY_KEYS.get(table, ("id",)))


@dataclass
class MigratedRun:
    """A database in one state, migrated once without interruption: the reference."""

    name: str
    template: str
    result: subprocess.CompletedProcess[str]
    before: Snapshot
    after: Snapshot


class LegacyDatabases:
    """Per state, a template database (dump + plants) and a migrated copy, built on first use
    and dropped by `close()`. Tests treat both as read-only and copy them to change anything."""

    def __init__(self) -> None:
        self._created: list[str] = []
        self._templates: dict[str, str] = {}
        self._migrated: dict[tuple[str, str | None], MigratedRun] = {}

    def template(self, state: str) -> str:
        """The database holding `state` with the planted rows, not migrated."""
        if state not in self._templates:
            name = create_database()
            self._created.append(name)
            build_state(name, state)
            self._templates[state] = name
        return self._templates[state]

    def migrated(self, state: str, target: str | None = None) -> MigratedRun:
        """A copy of the template, migrated with --fake-initial (batch size 3), to the end or up
        to crm's `target`."""
        if (state, target) not in self._migrated:
            template = self.template(state)
            name = create_database(template)
            self._created.append(name)
            before = Snapshot.take(template)
            result = migrate(name, target=target)
            self._migrated[state, target] = MigratedRun(
                name, template, result, before, Snapshot.take(name)
            )
        return self._migrated[state, target]

    def close(self) -> None:
        """Drop every database this object created."""
        for name in reversed(self._created):
            drop_database(name)
        self._created.clear()

"""A stand-in for the running wb-crm: its own INSERT and UPDATE statements, naming no organization.

The statements are those wb-crm's SQLAlchemy models send for an inbound message, an order and its
payment, a campaign send and its API log, a flow step: each round one transaction, as wb-crm's
request handlers commit. It logs in as wb-crm's own role (never a superuser, so row-level
security binds it) and keeps every error it meets: the takeover must cause none.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg2

from tests.legacy import PG_DSN

# wb-crm's customers are created from the webhook with a wa_id and a name only: no organization
# (its get_or_create_customer), as they are here.
STATEMENTS = {
    "new_customer": "INSERT INTO customers (id, wa_id, name, customer_status, created_at) "
                    "VALUES (%s, %s, %s, 'open', now() at time zone 'utc')",
    "customer_seen": "UPDATE customers SET last_message_at = now() at time zone 'utc', "
                     "last_message_type = 'text' WHERE id = %s",
    "message": "INSERT INTO messages (message_id, from_wa_id, to_wa_id, type, body, "
               "\"timestamp\", customer_id, sender_type) VALUES (%s, %s, '15550001111', 'text', "
               "%s, now() at time zone 'utc', %s, 'customer') RETURNING messages.id",
    "message_status": "UPDATE messages SET body = body || ' (read)' WHERE messages.id = %s",
    # An older message wb-crm touches again (a status arriving late): a row not yet backfilled.
    "old_message": "UPDATE messages SET caption = 'seen' WHERE messages.id = %s",
    "order": "INSERT INTO orders (id, customer_id, catalog_id, \"timestamp\", status) "
             "VALUES (%s, %s, 'catalog-1', now() at time zone 'utc', 'pending')",
    "payment": "INSERT INTO payments (id, order_id, amount, currency, status, created_at) "
               "VALUES (%s, %s, 499.0, 'INR', 'created', now() at time zone 'utc')",
    "payment_paid": "UPDATE payments SET status = 'paid', razorpay_id = %s, "
                    "updated_at = now() at time zone 'utc' WHERE payments.id = %s",
    "order_paid": "UPDATE orders SET status = 'paid', payment_completed_at = "
                  "now() at time zone 'utc' WHERE orders.id = %s",
    "recipient": "INSERT INTO campaign_recipients (id, campaign_id, phone_number, name, status, "
                 "created_at) VALUES (%s, %s, %s, 'Recipient', 'pending', "
                 "now() at time zone 'utc')",
    "campaign_customer": "INSERT INTO campaign_customers (campaign_id, customer_id) "
                         "VALUES (%s, %s)",
    "campaign_log": "INSERT INTO campaign_logs (id, campaign_id, job_id, target_type, target_id, "
                    "phone_number, status, request_payload, created_at, retry_count) VALUES "
                    "(%s, %s, %s, 'customer', %s, %s, 'sent', %s, now() at time zone 'utc', 0)",
    "api_log": "INSERT INTO whatsapp_api_logs (id, campaign_id, job_id, phone_number, "
               "request_payload, response_status_code, request_time, created_at) VALUES "
               "(%s, %s, %s, %s, %s, 200, now() at time zone 'utc', now() at time zone 'utc')",
    "flow_log": "INSERT INTO flow_logs (id, wa_id, flow_type, step, status_code, created_at) "
                "VALUES (%s, %s, 'treatment', 'start', 200, now() at time zone 'utc')",
}
# Rows one round writes (inserts and updates).
ROWS_PER_ROUND = len(STATEMENTS)


@dataclass(frozen=True)
class Targets:
    """Legacy rows the writer refers to: customers with an organization, jobs of a campaign,
    and messages near the end of the table (the backfill reaches them last)."""

    customers: list[tuple[str, str]]  # (id, wa_id)
    jobs: list[tuple[str, str]]  # (campaign_id, job_id)
    old_messages: list[int]

    @classmethod
    def pick(cls, dbname: str, count: int = 50) -> Targets:
        """Read them from the template (as postgres, before anything changes)."""
        conn = psycopg2.connect(dbname=dbname, **PG_DSN)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT id::text, wa_id FROM customers WHERE organization_id IS "
                            "NOT NULL ORDER BY id LIMIT %s", [count])
                customers = cur.fetchall()
                cur.execute("SELECT campaign_id::text, id::text FROM jobs ORDER BY id LIMIT %s",
                            [count])
                jobs = cur.fetchall()
                cur.execute("SELECT id FROM messages ORDER BY id DESC LIMIT %s", [count * 20])
                old = [row[0] for row in cur.fetchall()]
        finally:
            conn.close()
        return cls(customers, jobs, old)


@dataclass
class Written:
    """Keys of what the writer wrote, by table (messages: serial ids; campaign_customers: the
    customer of the pair)."""

    keys: dict[str, list] = field(default_factory=dict)

    def add(self, table: str, key: object) -> None:
        self.keys.setdefault(table, []).append(key)


class WbCrmWriter(threading.Thread):
    """Replays wb-crm's statements as `role`, at least `rows_per_second` rows per second."""

    def __init__(self, dbname: str, role: str, targets: Targets, rows_per_second: float = 60):
        super().__init__(daemon=True, name="wb-crm writer")
        self.conn = psycopg2.connect(dbname=dbname, user=role, host=PG_DSN["host"],
                                     port=PG_DSN["port"])
        self.targets = targets
        self.interval = ROWS_PER_ROUND / rows_per_second
        self.written = Written()
        self.errors: list[str] = []
        self.rounds = 0
        self.started_at = 0.0
        self._halt = threading.Event()
        self._progress = threading.Condition()

    @property
    def backend_pid(self) -> int:
        """The writer's server session (a simulated crash of migrate must spare it)."""
        return self.conn.get_backend_pid()

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            while not self._halt.is_set():
                self._round(self.rounds)
                with self._progress:
                    self.rounds += 1
                    self._progress.notify_all()
                # A floor, not a ceiling: a round that fell behind starts the next at once.
                self._halt.wait(self.started_at + self.rounds * self.interval - time.monotonic())
        finally:
            self.conn.close()

    def _round(self, i: int) -> None:
        customer, wa_id = self.targets.customers[i % len(self.targets.customers)]
        campaign, job = self.targets.jobs[i % len(self.targets.jobs)]
        old_message = self.targets.old_messages[i % len(self.targets.old_messages)]
        new_customer, order, payment = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        logs = [str(uuid.uuid4()) for _ in range(4)]
        payload = json.dumps({"to": wa_id, "type": "template"})
        try:
            with self.conn, self.conn.cursor() as cur:
                cur.execute(STATEMENTS["new_customer"],
                            [new_customer, f"97{i:010d}{uuid.uuid4().int % 1000:03d}", "New"])
                cur.execute(STATEMENTS["customer_seen"], [customer])
                cur.execute(STATEMENTS["message"], [f"wamid.writer.{uuid.uuid4().hex}", wa_id,
                                                    f"hello {i}", customer])
                message = cur.fetchone()[0]
                cur.execute(STATEMENTS["message_status"], [message])
                cur.execute(STATEMENTS["old_message"], [old_message])
                cur.execute(STATEMENTS["order"], [order, customer])
                cur.execute(STATEMENTS["payment"], [payment, order])
                cur.execute(STATEMENTS["payment_paid"], [f"pay_{i}", payment])
                cur.execute(STATEMENTS["order_paid"], [order])
                cur.execute(STATEMENTS["recipient"], [logs[0], campaign, wa_id])
                cur.execute(STATEMENTS["campaign_customer"], [campaign, new_customer])
                cur.execute(STATEMENTS["campaign_log"],
                            [logs[1], campaign, job, customer, wa_id, payload])
                # Every other log names only its job (wb-crm's send worker does).
                cur.execute(STATEMENTS["api_log"],
                            [logs[2], campaign if i % 2 else None, job, wa_id, payload])
                cur.execute(STATEMENTS["flow_log"], [logs[3], wa_id])
        except psycopg2.Error as error:
            self.errors.append(f"round {i}: {type(error).__name__}: {error}".strip())
            return
        for table, key in (("customers", new_customer), ("messages", message),
                           ("old_messages", old_message), ("orders", order),
                           ("payments", payment), ("campaign_recipients", logs[0]),
                           ("campaign_customers", new_customer),
                           ("campaign_logs", logs[1]), ("whatsapp_api_logs", logs[2]),
                           ("flow_logs", logs[3])):
            self.written.add(table, key)

    def wait_rounds(self, more: int, timeout: float = 240) -> None:
        """Return once `more` rounds beyond the current count have committed (or failed)."""
        with self._progress:
            target = self.rounds + more
            assert self._progress.wait_for(lambda: self.rounds >= target, timeout), (
                f"the writer did {self.rounds} of {target} rounds in {timeout:.0f}s: stuck? "
                f"errors: {self.errors[:3]}"
            )

    def stop(self) -> float:
        """Stop after the current round; return the rows written per second."""
        self._halt.set()
        self.join(timeout=60)
        assert not self.is_alive(), "the writer did not stop"
        return self.rounds * ROWS_PER_ROUND / max(time.monotonic() - self.started_at, 1e-9)

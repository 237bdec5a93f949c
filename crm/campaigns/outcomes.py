"""What one campaign send leaves behind, written by one statement.

A send's outcome touches up to five tables: its job_status row, a campaign_logs row, the Graph
API call's whatsapp_api_logs row, and once final the outbound `messages` row (so the inbox shows
it and Meta's status webhooks attach to its wamid) with the customer's last-message fields.
Written through the ORM that is five to seven round trips and most of a sender's CPU; here it is
one statement of data-modifying CTEs, atomic on its own, committed without waiting for the disk
(a database crash can lose only the last few outcomes, whose rows then go again like those in
flight at a worker's kill).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from psycopg2.extras import Json

from crm.campaigns import portable
from tenancy.context import get_current_organization_id

_dumps = partial(json.dumps, cls=DjangoJSONEncoder)


@dataclass
class Outcome:
    """One attempt's outcome: the row's new state and what to record of it."""

    status: str  # job_status.status after the attempt
    reason: str | None
    attempts: int
    lease_until: datetime | None = None  # when a retried row may go again
    campaign_log: dict[str, Any] = field(default_factory=dict)  # campaign_logs columns
    api_logs: list[dict[str, Any]] = field(default_factory=list)  # whatsapp_api_logs rows
    message: dict[str, Any] | None = None  # messages columns, once the outcome is final
    sent_at: datetime | None = None  # set when Meta accepted it: the customer's last message


def record(job_id: uuid.UUID, campaign_id: uuid.UUID, customer_id: uuid.UUID,
           outcome: Outcome) -> None:
    """Write the outcome of one send to every table it touches, in one statement."""
    organization = get_current_organization_id()
    now = datetime.now(UTC)
    if connection.vendor != "postgresql":
        portable.record(job_id, campaign_id, customer_id, outcome, organization, now)
        return
    ctes: list[str] = []
    params: list[Any] = []

    def insert(table: str, row: dict[str, Any]) -> None:
        columns = ", ".join(f'"{name}"' for name in row)
        ctes.append(f'w{len(ctes)} AS (INSERT INTO {table} ({columns}) '
                    f'VALUES ({", ".join(["%s"] * len(row))}))')
        params.extend(_adapt(value) for value in row.values())

    for api_log in outcome.api_logs:
        insert("whatsapp_api_logs", {"id": uuid.uuid4(), "organization_id": organization,
                                     **api_log})
    insert("campaign_logs", {
        "id": uuid.uuid4(), "organization_id": organization, "campaign_id": campaign_id,
        "job_id": job_id, "target_type": "customer", "target_id": customer_id,
        "created_at": now, "processed_at": now, **outcome.campaign_log,
    })
    if outcome.message is not None:
        insert("messages", {"organization_id": organization, "customer_id": customer_id,
                            **outcome.message})
    if outcome.sent_at is not None:
        # Never moved back: a later message of the conversation may have been stored already.
        ctes.append(
            f"w{len(ctes)} AS (UPDATE customers SET last_message_at = %s, "
            "last_interaction_time = %s, last_message_type = %s WHERE organization_id = %s "
            "AND id = %s AND (last_message_at IS NULL OR last_message_at <= %s))"
        )
        sent_at = _adapt(outcome.sent_at)
        params.extend([sent_at, sent_at, (outcome.message or {}).get("type"), organization,
                       customer_id, sent_at])
    params.extend([outcome.status, outcome.attempts, _adapt(outcome.lease_until),
                   outcome.reason, _adapt(now), organization, job_id, customer_id])
    # SQL of this module's own tables and columns; every write carries the organization, and
    # the row-level security policies check each one like any other statement's.
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {', '.join(ctes)} UPDATE job_status SET status = %s, attempts = %s, "
            "lease_until = %s, reason = %s, updated_at = %s "
            # This statement's transaction commits without waiting for the WAL flush.
            "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit "
            "WHERE organization_id = %s AND job_id = %s AND customer_id = %s",
            params,
        )


def _adapt(value: Any) -> Any:
    """A value as these columns take it: JSON as JSON, datetimes as naive UTC."""
    if isinstance(value, (dict, list)):
        return Json(value, dumps=_dumps)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value

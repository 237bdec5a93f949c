"""Report tables: roll-ups kept by PostgreSQL triggers on `messages` (crm.0032) as rows arrive,
and conversations' resolutions (crm.0039), recorded as each happens.

Dashboards read these small tables instead of scanning every message: messages per local day,
campaign funnels per run and sending number, each conversation's first response and its
resolutions. Roll-up rows are written only by the triggers and `crm.reports.rollups.rebuild`
(set-based SQL); nothing else changes them. Their keys to jobs and customers carry no database
constraint: a trigger must never refuse a message because a run or customer it names was deleted.
"""
from __future__ import annotations

from typing import ClassVar

from django.db import models

from crm.fields import UTCDateTimeField, VarCharField
from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel


class DailyMessageStat(TenantModel):
    """Messages of one local day, business number, direction and billable category."""

    class Direction(models.TextChoices):
        IN = "in"
        OUT = "out"

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(help_text="The day in the organization's time zone.")
    number = VarCharField(blank=True, default="", help_text="The business number's digits.")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    # '' for messages Meta has not (or not yet) priced; messages count under the category they
    # had when stored, billable under the one Meta reported: sum `messages` over categories.
    category = VarCharField(blank=True, default="")
    messages = models.IntegerField(default=0)
    billable = models.IntegerField(default=0)

    class Meta:
        db_table = "daily_message_stats"
        ordering = ["-day", "number", "direction", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "day", "number", "direction", "category"],
                name="daily_message_stats_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.number} {self.direction}: {self.messages}"


class CampaignFunnel(TenantModel):
    """A campaign run's messages from one number, by the status each has now; replies."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(
        "Job", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    number = VarCharField(blank=True, default="", help_text="The sending number's digits.")
    sent = models.IntegerField(default=0, help_text="Accepted by Meta, not delivered yet.")
    delivered = models.IntegerField(default=0, help_text="Delivered, not read yet.")
    read = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    replied = models.IntegerField(default=0, help_text="Recipients who wrote within 24 hours.")

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("job"),)

    class Meta:
        db_table = "campaign_funnels"
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "job", "number"],
                                    name="campaign_funnels_key"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} from {self.number}"


class ResponseTime(TenantModel):
    """How long a customer waited for the team's first human reply."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(
        "Customer", on_delete=models.CASCADE, related_name="+", db_constraint=False,
        db_index=False,
    )
    agent_id = VarCharField(null=True, blank=True, help_text="messages.agent_id of the reply.")
    waiting_since = UTCDateTimeField(help_text="The first customer message not answered yet.")
    responded_at = UTCDateTimeField()
    seconds = models.IntegerField()

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "response_times"
        ordering = ["-responded_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "customer", "waiting_since"],
                                    name="response_times_key"),
        ]
        indexes = [
            # Percentiles of a period read the index alone (after vacuum), not the table.
            models.Index(fields=["organization", "responded_at"], include=["agent_id", "seconds"],
                         name="response_times_org_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.seconds} s"


class ResponseTimeCount(TenantModel):
    """How many first replies of one local day and agent took exactly `seconds` (crm.0043).

    Kept by a trigger on response_times: percentiles of any range are computed exactly from
    these counts (a year is a few thousand rows, not a million replies to sort).
    """

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(help_text="The reply's day in the organization's time zone.")
    agent_id = VarCharField(blank=True, default="", help_text="'' for replies with no agent.")
    seconds = models.IntegerField()
    replies = models.IntegerField(default=0)

    class Meta:
        db_table = "response_time_counts"
        ordering = ["-day", "agent_id", "seconds"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "day", "agent_id", "seconds"],
                                    name="response_time_counts_key"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.agent_id or '-'}: {self.replies} x {self.seconds} s"


class ConversationResolution(TenantModel):
    """One resolution of a conversation: from its opening customer message (the first since the
    previous resolution) to the moment it was set `resolved`, attributed to its assignee then.

    Written by crm.contacts.services.set_status (status changes are not kept elsewhere), so the
    dashboard reads resolution times from this indexed table, never from every message.
    """

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(
        "Customer", on_delete=models.CASCADE, related_name="+", db_index=False,
    )
    agent = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False, help_text="The conversation's assignee when it was resolved.",
    )
    opened_at = UTCDateTimeField(help_text="The first customer message since the previous "
                                           "resolution.")
    resolved_at = UTCDateTimeField()
    seconds = models.IntegerField()

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "conversation_resolutions"
        ordering = ["-resolved_at"]
        indexes = [
            # Percentiles of a period read the index alone, like response_times'.
            models.Index(fields=["organization", "resolved_at"], include=["agent", "seconds"],
                         name="resolutions_org_at_idx"),
            # The previous resolution of a conversation, when the next one is recorded.
            models.Index(fields=["organization", "customer", "-resolved_at"],
                         name="resolutions_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.seconds} s"

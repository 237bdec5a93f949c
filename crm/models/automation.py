"""Automation: each organization's rules (trigger, conditions, actions) and their firings.

A rule's JSON is checked by crm.automation (the API and the admin refuse a malformed one), so the
engine reads only shapes it knows. `automation_runs` holds one row per (rule, inbound message):
inserted before the rule acts, it is what makes a rule fire at most once per message.
"""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models

from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel


class AutomationRule(TenantModel):
    """One automatic reaction to customers' messages, run in `priority` order (lower first)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    priority = models.IntegerField(default=100, help_text="Lower runs first.")
    stop_processing = models.BooleanField(
        default=False, help_text="When this rule fires, the rules after it do not run.")
    trigger = models.JSONField(help_text='For example {"type": "first_message"}.')
    conditions = models.JSONField(
        default=dict, blank=True, help_text='For example {"numbers": [], "hours": "any"}.')
    actions = models.JSONField(
        help_text='For example [{"type": "send", "message": {"type": "text", '
                  '"text": {"body": "Hi {{name}}"}}}].')
    # Where round-robin assignment continues: the id of the agent this rule assigned last (a
    # plain id, not a key: a deleted agent is simply passed over).
    round_robin_after = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "automation_rules"
        ordering = ["priority", "created_at", "id"]
        indexes = [
            models.Index(fields=["organization", "priority", "created_at"],
                         name="automation_rules_org_prio_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The admin's form: the same checks as the API (crm.automation.rules)."""
        from crm.automation.rules import check_rule_or_raise

        self.trigger, self.conditions, self.actions = check_rule_or_raise(
            self.trigger, self.conditions, self.actions)


class AutomationRun(TenantModel):
    """A rule fired for an inbound message: recorded before acting, its outcome after."""

    class Outcome(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        REFUSED = "refused"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="runs",
                             db_index=False)
    message = models.ForeignKey("Message", on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    customer = models.ForeignKey("Customer", on_delete=models.CASCADE, related_name="+",
                                 db_index=False)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("rule"),)

    class Meta:
        db_table = "automation_runs"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "rule", "message"],
                                    name="automation_runs_once_per_message"),
        ]
        indexes = [
            # The away message's throttle: this rule's latest run for this customer.
            models.Index(fields=["organization", "rule", "customer", "-created_at"],
                         name="automation_runs_throttle_idx"),
            models.Index(fields=["organization", "message"], name="automation_runs_message_idx"),
            models.Index(fields=["organization", "customer"], name="automation_runs_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on message {self.message_id}: {self.outcome}"


class AutomationSchedule(TenantModel):
    """A delayed trigger armed by a message: due at `due_at`, then fired or cancelled by beat
    (crm.automation.delayed) after re-checking who wrote since; never held in worker memory."""

    class State(models.TextChoices):
        PENDING = "pending"
        FIRED = "fired"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="schedules",
                             db_index=False)
    # The message that armed it: the customer's (no_agent_reply) or ours (no_customer_reply).
    message = models.ForeignKey("Message", on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    customer = models.ForeignKey("Customer", on_delete=models.CASCADE, related_name="+",
                                 db_index=False)
    due_at = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("rule"),)

    class Meta:
        db_table = "automation_schedules"
        ordering = ["due_at", "id"]
        constraints = [
            # A re-delivered webhook or a retried task arms a rule once per message.
            models.UniqueConstraint(fields=["organization", "rule", "message"],
                                    name="automation_schedules_once_per_message"),
        ]
        indexes = [
            # Cancelling a customer's pending items when the other side writes.
            models.Index(fields=["organization", "customer", "state"],
                         name="automation_sched_customer_idx"),
            models.Index(fields=["organization", "message"], name="automation_sched_message_idx"),
            # Beat's claim across organizations: only pending rows, so fired ones cost nothing.
            models.Index(fields=["due_at"], name="automation_sched_due_idx",
                         condition=models.Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} for {self.customer_id} at {self.due_at}: {self.state}"


class Flow(TenantModel):
    """A guided dialogue: steps each send a message and wait for a reply that picks the next.

    `steps` is checked by crm.automation.flows (the API and the admin refuse a malformed one:
    an unreachable step, a choice leading nowhere); the first step is where a session starts.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    steps = models.JSONField(
        help_text='A list of steps, such as [{"id": "city", "message": {...}, "expect": "text", '
                  '"answer": "city", "next": "done"}, {"id": "done", "message": {...}, '
                  '"actions": [{"type": "create_lead"}]}].')
    expire_minutes = models.PositiveIntegerField(
        default=30, help_text="A session the customer leaves idle this long ends.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "flows"
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "name"], name="flows_org_name_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The admin's form: the same checks as the API (crm.automation.flows)."""
        from crm.automation.flows import check_steps_or_raise

        self.steps = check_steps_or_raise(self.steps)


class FlowSession(TenantModel):
    """A customer's way through a flow: the step waiting for a reply and the answers so far.

    At most one active session per customer (a partial unique index): while it is active, the
    customer's replies go to it before the rules.
    """

    class State(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        EXPIRED = "expired"
        STOPPED = "stopped"  # a send was refused or failed: `error` says why

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="sessions",
                             db_index=False)
    customer = models.ForeignKey("Customer", on_delete=models.CASCADE, related_name="+",
                                 db_index=False)
    # The rule that started it: the flow's messages are sent as that rule's (the bot's, never
    # mistaken for an agent's reply); deleting the rule ends its sessions.
    rule = models.ForeignKey(AutomationRule, on_delete=models.CASCADE, related_name="+",
                             db_index=False)
    step = models.CharField(max_length=100)
    answers = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    expires_at = models.DateTimeField()
    # The latest inbound message the session handled (a plain id: messages' ids only grow), so
    # a redelivered webhook or a retried task advances the flow once.
    handled_message_id = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("flow"),)

    class Meta:
        db_table = "flow_sessions"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "customer"],
                                    condition=models.Q(state="active"),
                                    name="flow_sessions_one_active"),
        ]
        indexes = [
            models.Index(fields=["organization", "flow"], name="flow_sessions_flow_idx"),
            models.Index(fields=["organization", "customer", "-created_at"],
                         name="flow_sessions_customer_idx"),
            models.Index(fields=["organization", "rule"], name="flow_sessions_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_id} for {self.customer_id}: {self.step} ({self.state})"

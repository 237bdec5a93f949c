"""WhatsApp numbers, the messages exchanged on them, templates and quick replies."""
from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from crm.fields import UTCDateTimeField, VarCharField
from tenancy.derivations import Derivation, FromMatch, FromParent
from tenancy.models import TenantModel


class Verification(models.TextChoices):
    """Whether a WhatsApp number's organization has proved it controls the number."""

    PENDING = "pending"
    VERIFIED = "verified"


# Meta's ids are digits. They become Graph API URL paths, called with the number's token: a value
# such as "https://..." or "../x" must never be stored (checked in the database too, crm.0020).
META_ID = RegexValidator(
    r"\A[0-9]+\Z", "Meta's ids are digits only: copy it from WhatsApp Manager (API Setup)."
)
DIGITS_ONLY = r"^[0-9]+$"


class WhatsAppNumber(TenantModel):
    """A WhatsApp Business phone number owned by one organization (routes its webhooks)."""

    organization = models.ForeignKey(
        settings.TENANCY_ORGANIZATION_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    # Unique per organization only (crm.0020): whoever proves control with Meta receives it (one
    # verified row per id across organizations), so typing an id first proves nothing, and a
    # clash with another organization's row is never an error that would reveal that row.
    phone_number_id = models.CharField(max_length=100, validators=[META_ID])
    display_number = models.CharField(max_length=50, null=True, blank=True)
    access_token = models.CharField(max_length=500, null=True, blank=True)
    # New in the port (crm.0009): the WhatsApp Business Account the number belongs to, whose
    # message templates it sends (templates live on the account, not on the number).
    whatsapp_business_account_id = VarCharField(null=True, blank=True, validators=[META_ID])
    webhook_path = models.CharField(max_length=255, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)
    # Proof that the organization controls the number (crm.whatsapp.verification): until then,
    # the webhook acknowledges its deliveries and stores them for nobody.
    verification_status = models.CharField(
        max_length=20, choices=Verification.choices, default=Verification.PENDING
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_note = models.CharField(max_length=255, null=True, blank=True)
    # New in the port (crm.0012): the most campaign messages sent from it in any one second.
    messages_per_second = models.PositiveIntegerField(default=80)
    # Embedded Signup (crm.0036): Meta's verified business name, and the two-step verification
    # PIN the server chose when it registered the number (kept to register it again; never shown).
    verified_name = models.CharField(max_length=255, null=True, blank=True)
    registration_pin = models.CharField(max_length=6, null=True, blank=True, editable=False)
    # The account's health as Meta's webhook last reported it (crm.webhooks.account): quality
    # rating (GREEN, YELLOW, RED), messaging limit tier, and a ban or restriction, if any.
    quality_rating = models.CharField(max_length=20, null=True, blank=True, editable=False)
    messaging_limit_tier = models.CharField(max_length=50, null=True, blank=True, editable=False)
    account_restriction = models.CharField(max_length=255, null=True, blank=True, editable=False)
    account_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "whatsapp_numbers"
        ordering = ["display_number"]
        verbose_name = "WhatsApp number"
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone_number_id"],
                                    name="whatsapp_numbers_org_phone_number_id_uniq"),
            models.UniqueConstraint(
                fields=["phone_number_id"], condition=models.Q(verification_status="verified"),
                name="whatsapp_numbers_verified_phone_number_id_uniq",
            ),
            models.CheckConstraint(condition=models.Q(phone_number_id__regex=DIGITS_ONLY),
                                   name="whatsapp_numbers_phone_number_id_digits"),
            models.CheckConstraint(
                condition=models.Q(whatsapp_business_account_id__isnull=True)
                | models.Q(whatsapp_business_account_id__regex=DIGITS_ONLY),
                name="whatsapp_numbers_waba_id_digits",
            ),
        ]

    def __str__(self) -> str:
        return self.display_number or self.phone_number_id

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> WhatsAppNumber:
        obj = super().from_db(db, field_names, values)
        obj._proved_for = obj.proof_key()
        return obj

    def proof_key(self) -> tuple[str | None, ...]:
        """What verification proves: this token controls this id (and this account)."""
        return (self.__dict__.get("phone_number_id"), self.__dict__.get("access_token"),
                self.__dict__.get("whatsapp_business_account_id"))

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new number, or a changed id, account or token, must prove control again (pending)."""
        if self.whatsapp_business_account_id == "":
            self.whatsapp_business_account_id = None  # no account, as the check constraint wants
        if getattr(self, "_proved_for", None) != self.proof_key():
            self.verification_status = Verification.PENDING
            self.verified_at = None
            fields = kwargs.get("update_fields")
            if fields is not None:
                kwargs["update_fields"] = {*fields, "verification_status", "verified_at"}
        super().save(*args, **kwargs)
        self._proved_for = self.proof_key()

    @property
    def is_verified(self) -> bool:
        """True once the organization has proved it controls the number."""
        return self.verification_status == Verification.VERIFIED


class NumberFlowConfig(TenantModel):
    """Which conversation flow a WhatsApp number runs, and when."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    # The phone_number_id of one of the organization's numbers (wb-crm kept no database key). A
    # plain value since crm.0020: phone_number_id is unique per organization, not platform-wide.
    phone_number = models.CharField(max_length=100, db_column="phone_number_id")
    display_number = VarCharField()
    display_digits = models.CharField(max_length=20, null=True, blank=True)
    flow_key = models.CharField(max_length=100)
    flow_name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    priority = models.IntegerField(null=True, blank=True, default=0)
    is_enabled = models.BooleanField(null=True, blank=True, default=True)
    auto_enable_from = UTCDateTimeField(null=True, blank=True)
    auto_enable_to = UTCDateTimeField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (
        FromMatch("phone_number", "crm.WhatsAppNumber", "phone_number_id"),
    )

    class Meta:
        db_table = "number_flow_configs"
        ordering = ["flow_key"]
        # Per organization (crm.0020): a clash with another organization's flow reveals nothing.
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone_number"],
                                    name="number_flow_configs_org_phone_number_id_uniq"),
            models.UniqueConstraint(fields=["organization", "display_digits"],
                                    name="number_flow_configs_org_display_digits_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.flow_name} on {self.display_number}"

    def clean(self) -> None:
        """The admin's form: flow_key names one of the organization's flows (as the API)."""
        from crm.automation.errors import InvalidRule
        from crm.automation.flows import check_flow_key

        try:
            check_flow_key(self.flow_key)
        except InvalidRule as error:
            raise ValidationError({"flow_key": error.problem}) from None


class Message(TenantModel):
    """One WhatsApp message, inbound or outbound, in a customer's conversation."""

    id = models.AutoField(primary_key=True)
    message_id = VarCharField(null=True, blank=True)
    from_wa_id = VarCharField(null=True, blank=True)
    to_wa_id = VarCharField(null=True, blank=True)
    type = VarCharField(null=True, blank=True)
    body = VarCharField(null=True, blank=True)
    timestamp = UTCDateTimeField(null=True, blank=True)
    customer = models.ForeignKey(
        "Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="messages",
        db_index=False,
    )
    center_id = VarCharField(null=True, blank=True)
    agent_id = VarCharField(null=True, blank=True)
    sender_type = VarCharField(null=True, blank=True)
    media_id = VarCharField(null=True, blank=True)
    caption = VarCharField(null=True, blank=True)
    filename = VarCharField(null=True, blank=True)
    mime_type = VarCharField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    # New in the port (crm.0006): the webhook's message object as received, and the delivery
    # status of a message we sent (only ever moves forward: sent < delivered < read; failed).
    raw_message = models.JSONField(null=True, blank=True)
    delivery_status = VarCharField(null=True, blank=True)
    delivery_status_at = models.DateTimeField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = VarCharField(null=True, blank=True)
    # New in the port (crm.0022): the automation rule that sent this message (the inbox shows it
    # as the bot's). No database key: the id stays as history when the rule is deleted.
    automation_rule = models.ForeignKey(
        "AutomationRule", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False, db_index=False,
    )
    # New in the port (crm.0032): what Meta's status webhooks say a message costs (`pricing`:
    # billable, pricing_model, category; `conversation`: id, origin, expiry), and the category
    # it is billed under (NULL: free or not priced yet); the campaign run that sent it. Written
    # by the webhook and the sender only; the report roll-ups' triggers read them.
    pricing = models.JSONField(null=True, blank=True, editable=False)
    conversation = models.JSONField(null=True, blank=True, editable=False)
    billable_category = VarCharField(null=True, blank=True, editable=False)
    campaign_job = models.ForeignKey(
        "Job", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False, db_index=False, editable=False,
    )
    # New in the port (crm.0040): the WhatsApp group a message was written in (replies go to the
    # group); an error's details from Meta's status (`error_data.details`); a customer's edit
    # (the earlier bodies kept in edit_history, oldest first) or deletion of their message.
    group_id = VarCharField(null=True, blank=True, editable=False)
    error_details = VarCharField(null=True, blank=True, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True, editable=False)
    edit_history = models.JSONField(null=True, blank=True, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "messages"
        ordering = ["-timestamp", "-id"]
        # Not unique: legacy databases may hold duplicate message_ids (see crm.0006).
        indexes = [
            models.Index(fields=["organization", "message_id"], name="messages_org_message_id_idx"),
            # Tenant-leading indexes for the default ordering and a customer's conversation.
            models.Index(fields=["organization", "-timestamp", "-id"],
                         name="messages_org_timestamp_idx"),
            models.Index(fields=["organization", "customer", "-timestamp"],
                         name="messages_org_customer_ts_idx"),
            # The inbox's unread counts: customers' messages only, counted from the index alone.
            models.Index(fields=["organization", "customer", "timestamp"],
                         condition=models.Q(sender_type="customer"),
                         name="messages_org_customer_in_idx"),
            # A campaign report's failures by Meta's code, from its own messages only.
            models.Index(fields=["organization", "campaign_job", "delivery_status"],
                         include=["error_code"], condition=models.Q(campaign_job__isnull=False),
                         name="messages_org_campaign_job_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type or 'message'} {self.message_id or self.pk}"


class Template(TenantModel):
    """A WhatsApp message template, one per (organization, name, language); rows with no
    organization are shared by all."""

    # crm.0009: a surrogate key replaced wb-crm's global template_name key.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    template_name = VarCharField()
    language = VarCharField(default="en_US")
    category = VarCharField(null=True, blank=True)
    status = VarCharField(null=True, blank=True)
    # Meta's template object as wb-crm stored it: name, language, category, status, components.
    template_body = models.JSONField()
    template_vars = models.JSONField()
    facebook_template_id = VarCharField(null=True, blank=True, db_index=True)
    whatsapp_business_account_id = VarCharField(null=True, blank=True)
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    shared_rows: ClassVar[bool] = True

    class Meta:
        db_table = "templates"
        ordering = ["template_name", "language"]
        constraints = [
            # An organization may have its own template of a shared name; each is unique in
            # its own scope.
            models.UniqueConstraint(
                fields=["organization", "template_name", "language"],
                name="templates_org_name_language_uniq",
            ),
            models.UniqueConstraint(
                fields=["template_name", "language"], condition=models.Q(organization__isnull=True),
                name="templates_shared_name_language_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_name} ({self.language})"

    @property
    def components(self) -> list[dict]:
        """The template's components (header, body, footer, buttons) as Meta describes them."""
        body = self.template_body if isinstance(self.template_body, dict) else {}
        components = body.get("components")
        return components if isinstance(components, list) else []


class QuickReply(TenantModel):
    """A canned answer agents insert into conversations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.CharField(max_length=255)
    content = models.TextField()
    category = models.CharField(max_length=120, null=True, blank=True)
    created_by = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.PROTECT, related_name="quick_replies",
        db_column="created_by", db_index=False,
    )
    created_at = UTCDateTimeField(null=True, blank=True)
    updated_at = UTCDateTimeField(null=True, blank=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("created_by"),)

    class Meta:
        db_table = "quick_replies"
        ordering = ["title"]
        verbose_name_plural = "quick replies"

    def __str__(self) -> str:
        return self.title

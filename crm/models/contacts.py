"""Contacts: each organization's labels and typed attributes of customers, and the team's notes.

Labels are the organization's own list (names unique ignoring case); `customer_labels` links them
to customers. Attribute values live on the customer (`customers.attributes`), checked against the
organization's `attribute_definitions` by crm.contacts.services. Notes are private to the team:
they are never sent to the customer.
"""
from __future__ import annotations

import uuid
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from tenancy.derivations import Derivation, FromParent
from tenancy.models import TenantModel


class Label(TenantModel):
    """A tag the organization puts on customers, such as "VIP" or "Follow up"."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=50)
    color = models.CharField(max_length=7, default="#64748b", help_text="#rrggbb")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "labels"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="labels_org_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The admin's form: the same checks as the API (crm.contacts.services)."""
        from crm.contacts.errors import ContactsError
        from crm.contacts.services import check_label, check_unique_label

        try:
            self.name, self.color = check_label(self.name, self.color)
            check_unique_label(self.name, exclude=self.pk if not self._state.adding else None,
                               organization_id=self.organization_id)
        except ContactsError as error:
            raise ValidationError({error.field: error.problem}) from None


class CustomerLabel(TenantModel):
    """A label put on a customer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = models.ForeignKey("Customer", on_delete=models.CASCADE, related_name="label_links",
                                 db_index=False)
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="customer_links",
                              db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "customer_labels"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "customer", "label"],
                                    name="customer_labels_once"),
        ]
        indexes = [
            # The inbox's and the API's "has this label" filter.
            models.Index(fields=["organization", "label", "customer"],
                         name="customer_labels_label_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label_id} on {self.customer_id}"


class AttributeDefinition(TenantModel):
    """A custom attribute customers may have: its key, its label and its type."""

    class Type(models.TextChoices):
        TEXT = "text"
        NUMBER = "number"
        DATE = "date"
        BOOLEAN = "boolean"
        CHOICE = "choice"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    key = models.CharField(max_length=50, help_text="Lower-case letters, digits and _, such as "
                                                    "city or birth_date.")
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.TEXT)
    choices = models.JSONField(default=list, blank=True,
                               help_text='For type choice: the allowed values, ["Gold", "Silver"].')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "attribute_definitions"
        ordering = ["key", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"],
                                    name="attribute_definitions_key_uniq"),
        ]

    def __str__(self) -> str:
        return self.key

    def clean(self) -> None:
        """The admin's form: the same checks as the API (crm.contacts.attributes)."""
        from crm.contacts.attributes import check_definition
        from crm.contacts.errors import InvalidAttribute

        try:
            self.key, self.choices = check_definition(self.key, self.type, self.choices)
        except InvalidAttribute as error:
            field = error.field if error.field in ("key", "type") else "choices"
            raise ValidationError({field: error.problem}) from None


class ConversationNote(TenantModel):
    """A private note of the team on a conversation; `mentions` are the ids of agents named."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    customer = models.ForeignKey("Customer", on_delete=models.CASCADE, related_name="notes",
                                 db_index=False)
    # A plain key (no same-organization key): platform staff, who belong to no organization,
    # may write notes too.
    author = models.ForeignKey("User", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+", db_index=False)
    body = models.TextField()
    mentions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_derivation: ClassVar[tuple[Derivation, ...]] = (FromParent("customer"),)

    class Meta:
        db_table = "conversation_notes"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["organization", "customer", "created_at"],
                         name="conversation_notes_cust_idx"),
        ]

    def __str__(self) -> str:
        return f"note on {self.customer_id}"

"""A customer's erasure: personal data anonymised or deleted, counts kept, never messaged again.

The customer row stays (orders and counts point at it) under a token instead of its number;
messages stay as rows without content; media files leave the storage; every row that names the
customer by key or by number loses what identifies them. Written in one transaction, audited.
"""
from __future__ import annotations

import uuid
from typing import Any

from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from crm import audit
from crm.models import (
    AddressCollectionSession,
    CampaignCustomer,
    CampaignLog,
    CampaignRecipient,
    ConversationNote,
    Customer,
    CustomerAddress,
    FlowLog,
    FlowSession,
    JobStatus,
    Lead,
    Message,
    PaymentEvent,
    PaymentTransaction,
    ReferrerTracking,
    WebhookDelivery,
    WhatsAppApiLog,
    ZohoPayloadLog,
)
from crm.whatsapp.media_types import is_media_id
from tenancy.context import get_current_organization_id

ERASED = "customer.erased"
TOKEN_PREFIX = "erased-"


def _blank(model: type[models.Model], *names: str) -> dict[str, Any]:
    """Each column emptied: NULL where allowed, else its default or an empty string."""
    values: dict[str, Any] = {}
    for name in names:
        field = model._meta.get_field(name)
        default = field.get_default() if field.has_default() else ""
        values[name] = None if field.null else default
    return values


def erase_customer(customer: Customer, by: Any) -> dict[str, int]:
    """Erase `customer`'s personal data; the rows changed per table (the audit keeps them too)."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        # 19 characters: the token also replaces the number in 20-character phone columns.
        wa_id, token = customer.wa_id, f"{TOKEN_PREFIX}{uuid.uuid4().hex[:12]}"
        media = list(Message.objects.filter(customer=customer).exclude(media_id=None)
                     .exclude(media_id="").values_list("media_id", flat=True).distinct())
        counts = _anonymise(customer, wa_id, token)
        counts["media_files"] = _delete_media(media)
        audit.record(ERASED, actor=by, customer=str(customer.pk), **counts)
    return counts


def _anonymise(customer: Customer, wa_id: str, token: str) -> dict[str, int]:
    now = timezone.now()
    mine, by_number = Q(customer=customer), Q(customer=customer) | Q(wa_id=wa_id)
    counts = {
        "messages": Message.objects.filter(mine).update(
            **_blank(Message, "body", "caption", "filename", "raw_message", "media_id",
                     "mime_type", "latitude", "longitude")),
        "addresses": CustomerAddress.objects.filter(mine).update(
            **_blank(CustomerAddress, "full_name", "house_street", "locality", "city", "state",
                     "pincode", "landmark", "phone", "latitude", "longitude")),
        "leads": Lead.objects.filter(by_number).update(
            wa_id=token, **_blank(Lead, "first_name", "last_name", "email", "phone", "mobile",
                                  "city", "location", "appointment_details")),
        "flow_sessions": FlowSession.objects.filter(mine).update(answers={}),
        "notes": ConversationNote.objects.filter(mine).delete()[0],
        "address_sessions": AddressCollectionSession.objects.filter(mine).update(
            session_data=None),
        "referrals": ReferrerTracking.objects.filter(by_number).update(
            wa_id=token, **_blank(ReferrerTracking, "location")),
        "campaign_statuses": JobStatus.objects.filter(mine).update(params=None),
        "campaign_audiences": CampaignCustomer.objects.filter(mine).delete()[0],
        # Out of every audience: an upload's row would match the number again at the next run.
        "campaign_recipients": CampaignRecipient.objects.filter(phone_number=wa_id).delete()[0],
        "logs": _erase_logs(wa_id, token),
        "payments": _erase_payments(customer),
        "webhook_deliveries": WebhookDelivery.objects.filter(
            payload__icontains=wa_id).update(payload={"erased": True}),
    }
    # Messages name the customer's number as sender or recipient.
    Message.objects.filter(mine, from_wa_id=wa_id).update(from_wa_id=token)
    Message.objects.filter(mine, to_wa_id=wa_id).update(to_wa_id=token)
    Customer.objects.filter(pk=customer.pk).update(
        wa_id=token, attributes={}, default_address=None,
        marketing_opt_out_at=customer.marketing_opt_out_at or now,
        **_blank(Customer, "name", "phone_1", "phone_2", "email"))
    return counts


def _erase_logs(wa_id: str, token: str) -> int:
    """System logs that name the customer's number."""
    return (
        FlowLog.objects.filter(wa_id=wa_id).update(
            wa_id=token, **_blank(FlowLog, "name", "description", "response_json"))
        + ZohoPayloadLog.objects.filter(wa_id=wa_id).update(
            wa_id=token, payload={}, response=None)
        + CampaignLog.objects.filter(phone_number=wa_id).update(
            phone_number=token, **_blank(CampaignLog, "request_payload", "response_data"))
        + WhatsAppApiLog.objects.filter(phone_number=wa_id).update(
            phone_number=token, **_blank(WhatsAppApiLog, "request_payload", "response_body"))
    )


def _erase_payments(customer: Customer) -> int:
    """What the payment gateway reported about the customer's orders (contact, e-mail)."""
    orders = Q(order__customer=customer)
    return (PaymentTransaction.objects.filter(orders).update(gateway_response=None)
            + PaymentEvent.objects.filter(orders).update(payload={}))


def _delete_media(media_ids: list[str]) -> int:
    """Delete the customer's media files from the storage; how many there were."""
    deleted = 0
    for media_id in media_ids:
        if not is_media_id(media_id):
            continue  # never a storage path: such ids were never stored
        name = f"whatsapp-media/{get_current_organization_id()}/{media_id}"
        if default_storage.exists(name):
            default_storage.delete(name)
            deleted += 1
    return deleted

"""What each event's `data` holds: ids and the fields a receiver acts on, built from our rows."""
from __future__ import annotations

from typing import Any

from crm.models import Customer, Lead, Message, User
from crm.webhooks.payload import StatusUpdate


def customer(row: Customer) -> dict[str, Any]:
    """A conversation's customer."""
    return {"id": row.pk, "wa_id": row.wa_id, "name": row.name}


def message_received(message: Message, sender: Customer) -> dict[str, Any]:
    """A customer's message, as stored."""
    return {"message": {
        "id": message.pk, "wamid": message.message_id, "type": message.type,
        "body": message.body, "caption": message.caption, "media_id": message.media_id,
        "mime_type": message.mime_type, "filename": message.filename,
        "latitude": message.latitude, "longitude": message.longitude,
        "timestamp": message.timestamp, "to": message.to_wa_id,
    }, "customer": customer(sender)}


def message_status(update: StatusUpdate) -> dict[str, Any]:
    """A delivery status of a message we sent."""
    return {"wamid": update.wamid, "status": update.status, "timestamp": update.timestamp,
            "recipient": update.recipient_id, "error_code": update.error_code,
            "error_title": update.error_title}


def lead_created(lead: Lead) -> dict[str, Any]:
    """A new lead."""
    return {"lead": {
        "id": lead.pk, "customer": lead.customer_id, "first_name": lead.first_name,
        "last_name": lead.last_name, "email": lead.email, "phone": lead.phone,
        "wa_id": lead.wa_id, "city": lead.city, "lead_source": lead.lead_source,
        "sub_source": lead.sub_source, "treatment_name": lead.treatment_name,
        "appointment_details": lead.appointment_details, "created_at": lead.created_at,
    }}


def conversation_assigned(conversation: Customer, agent: User | None, previous: Any,
                          by: Any) -> dict[str, Any]:
    """A conversation's new assignee (None: unassigned), the previous one's id, and who did it
    (None: an automation rule)."""
    return {"customer": customer(conversation),
            "assignee": agent and {"id": agent.pk, "username": agent.username},
            "previous_assignee": previous,
            "by": getattr(by, "pk", None)}

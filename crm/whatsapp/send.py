"""send_message: the one way the CRM writes to a customer on WhatsApp, and stores what it sent."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from crm.accounts import gate
from crm.automation import arming
from crm.automation.inbound import Inbound
from crm.models import AutomationRule, Customer, Message, User, WhatsAppNumber
from crm.webhooks.numbers import digits
from crm.webhooks.statuses import replay
from crm.whatsapp.client import GraphClient, Sent
from crm.whatsapp.errors import Action, GraphError, NumberUnavailable
from crm.whatsapp.numbers import LastInbound, last_inbound, sending_number
from crm.whatsapp.optout import MARKETING, opt_out, template_category
from crm.whatsapp.refusals import MetaRefused, Refused
from crm.whatsapp.schemas import MessageContent, OutboundMessage
from crm.whatsapp.templates import check_template
from tenancy.context import get_current_organization_id

WINDOW = timedelta(hours=24)
AGENT = "agent"  # sender_type of what the organization sends, as in wb-crm


def window_closes_at(customer: Customer, last: LastInbound | None = None) -> datetime | None:
    """When the customer service window closes (or closed); None if the customer never wrote."""
    when = (last or last_inbound(customer)).timestamp
    return when + WINDOW if when else None


def check_window(customer: Customer, now: datetime, last: LastInbound | None = None) -> None:
    """Refuse a free-form message outside the 24-hour window (Meta would refuse it: 131047)."""
    closes = window_closes_at(customer, last)
    if closes is None or closes <= now:
        when = f"closed at {closes.isoformat()}" if closes else "never opened"
        raise Refused(
            409, "outside_window",
            f"The 24-hour customer service window {when} (the customer has not written since): "
            "only a template can be sent until the customer writes again.",
            window_closed_at=closes.isoformat() if closes else None,
        )


def check_opt_out(customer: Customer, content: MessageContent, category: str | None) -> None:
    """Refuse a marketing template to a customer who opted out of marketing."""
    if customer.marketing_opt_out_at is None:
        return
    template = content.template
    assert template is not None
    category = (category or template_category(template.name, template.language.code) or "")
    if category.upper() == MARKETING:
        raise Refused(
            409, "opted_out",
            f"The customer opted out of marketing messages at "
            f"{customer.marketing_opt_out_at.isoformat()}: send a utility template, or wait "
            "until they write START.",
        )


def check_reply_to(customer: Customer, reply_to: str) -> None:
    """A reply quotes a message of this customer's conversation."""
    if not Message.objects.filter(customer=customer, message_id=reply_to).exists():
        raise Refused(400, "reply_to_not_found", "reply_to must be the wamid of a message of "
                      "this customer's conversation.", field="reply_to")


def message_columns(content: MessageContent) -> dict[str, Any]:
    """What the messages table shows of a message of each type."""
    obj = content.object
    if content.type == "text":
        return {"body": obj.body}
    if content.type == "template":
        return {"body": obj.name}
    if content.type in ("image", "video", "audio", "sticker", "document"):
        return {"media_id": obj.id, "body": str(obj.link) if obj.link else None,
                "caption": getattr(obj, "caption", None),
                "filename": getattr(obj, "filename", None)}
    if content.type == "interactive":
        return {"body": obj.body.text if obj.body else None}
    if content.type == "location":
        return {"body": obj.name or obj.address, "latitude": obj.latitude,
                "longitude": obj.longitude}
    if content.type == "contacts":
        return {"body": ", ".join(contact.name.formatted_name for contact in obj)}
    return {"body": obj.emoji}  # a reaction; what it reacts to is in raw_message


def _store(
    customer: Customer, number: WhatsAppNumber, content: MessageContent, body: OutboundMessage,
    user: User | None, now: datetime, sent: Sent | None, error: GraphError | None,
    automation_rule: AutomationRule | None = None, answering: Inbound | None = None,
) -> Message:
    """The outbound message row, and the customer's last-message fields (never moved back)."""
    with transaction.atomic(using=router.db_for_write(Message)):
        message = Message.objects.create(
            customer=customer,
            message_id=sent.wamid if sent else None,
            from_wa_id=digits(number.display_number) or number.phone_number_id,
            to_wa_id=customer.wa_id,
            type=content.type,
            timestamp=now,
            sender_type=AGENT,
            agent_id=str(user.pk) if user is not None else None,
            automation_rule=automation_rule,
            raw_message=body.as_json(),
            delivery_status="sent" if sent else "failed",
            delivery_status_at=now,
            error_code=error.code if error else None,
            error_title=error.message[:255] if error else None,
            **message_columns(content),
        )
        if sent:
            Customer.objects.filter(pk=customer.pk).filter(
                Q(last_message_at=None) | Q(last_message_at__lte=now)
            ).update(last_message_at=now, last_interaction_time=now,
                     last_message_type=content.type)
            arming.after_outbound(message, customer, answering)  # follow-ups wait for the answer
            # Meta's first status may have come before this row existed.
            transaction.on_commit(lambda: replay([sent.wamid]))
    return message


def send_message(
    customer: Customer, payload: MessageContent | dict[str, Any], *,
    from_number: WhatsAppNumber | str | None = None, reply_to: str | None = None,
    user: User | None = None, category: str | None = None,
    automation_rule: AutomationRule | None = None, answering: Inbound | None = None,
) -> Message:
    """Send `payload` to `customer` and return the stored outbound message.

    `payload` is a MessageContent or its JSON (`{"type": "text", "text": {...}}`; a malformed one
    raises pydantic's ValidationError). `from_number`: a number (or its id or phone_number_id)
    of the active organization; default: the conversation's own (numbers.sending_number).
    `category`: the template's category when the caller knows it (else looked up).
    `automation_rule`: the rule sending it (the message is the bot's, not an agent's).
    `answering`: the automation run's inbound message it answers (the run's organization and
    rules serve the follow-ups' arming instead of being read again).
    Raises Refused before calling Meta (window, opt-out, number, reply_to), and MetaRefused when
    Meta refuses; that failed message is stored (delivery_status "failed", Meta's code) first.
    """
    if customer.organization_id != get_current_organization_id():
        raise Refused(404, "customer_not_found", "No customer of your organization has this id.")
    blocked = gate.why_not_sending()
    if blocked:
        raise Refused(409, "sending_blocked", blocked)
    content = (payload if isinstance(payload, MessageContent)
               else MessageContent.model_validate(payload))
    last = last_inbound(customer)
    key = str(from_number.pk) if isinstance(from_number, WhatsAppNumber) else from_number
    number = sending_number(customer, key, last)
    now = timezone.now()
    if content.type == "template":
        check_opt_out(customer, content, category)
        check_template(content)
    else:
        check_window(customer, now, last)
    if reply_to:
        check_reply_to(customer, reply_to)
    body = OutboundMessage.build(content, customer.wa_id, reply_to, group=customer.is_group)
    try:
        client = GraphClient(number)
    except NumberUnavailable as error:
        raise Refused(409, "number_unavailable", str(error), field="from_number") from None
    try:
        sent = client.send(body)
    except GraphError as error:
        message = _store(customer, number, content, body, user, now, None, error,
                         automation_rule, answering)
        if error.action is Action.OPTED_OUT:
            opt_out([customer.pk], now)
        raise MetaRefused(error, message) from None
    return _store(customer, number, content, body, user, now, sent, None, automation_rule,
                  answering)

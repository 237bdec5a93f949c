"""Triggers: which inbound messages a rule answers. `check` validates, `fires` decides."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q

from crm.automation.errors import InvalidRule, check_int, check_keys, check_strings
from crm.automation.inbound import Inbound, normalise
from crm.models import AutomationRule, AutomationRun, Message

MATCHES = ("exact", "contains", "starts_with")
EVERY_HOURS = 24  # the away message's default: once a day per customer
FIELDS: dict[str, set[str]] = {
    "first_message": {"after_days"},
    "keyword": {"keywords", "match"},
    "referral": {"source_id"},
    "button": {"ids"},
    "outside_hours": {"every_hours"},
    "no_agent_reply": {"minutes"},
    "no_customer_reply": {"minutes"},
}
# Delayed triggers: armed by a message, fired by beat when due (crm.automation.delayed).
DELAYED = ("no_agent_reply", "no_customer_reply")
MOST_MINUTES = 30 * 24 * 60  # a follow-up a month later is the longest that makes sense


def check(trigger: Any) -> dict[str, Any]:
    """The trigger if well formed (defaults filled in), else InvalidRule naming the field."""
    if not isinstance(trigger, dict):
        raise InvalidRule("trigger", 'give a JSON object, such as {"type": "first_message"}.')
    kind = trigger.get("type")
    if kind not in FIELDS:
        raise InvalidRule("trigger.type", f"give one of {', '.join(FIELDS)}.")
    check_keys(trigger, "trigger", FIELDS[kind] | {"type"},
               {"minutes"} if kind in DELAYED else set())
    checked = dict(trigger)
    if kind == "first_message" and trigger.get("after_days") is not None:
        check_int(trigger["after_days"], "trigger.after_days", 1, 3650)
    elif kind == "keyword":
        keywords = check_strings(trigger.get("keywords"), "trigger.keywords")
        checked["match"] = trigger.get("match", "contains")
        if checked["match"] not in MATCHES:
            raise InvalidRule("trigger.match", f"give one of {', '.join(MATCHES)}.")
        for index, keyword in enumerate(keywords):
            if not normalise(keyword):
                raise InvalidRule(f"trigger.keywords[{index}]", "give letters or digits.")
    elif kind == "referral" and trigger.get("source_id") is not None:
        source_id = trigger["source_id"]
        if not isinstance(source_id, str) or not source_id.strip() or len(source_id) > 200:
            raise InvalidRule("trigger.source_id", "give the ad's source_id (a text), or leave "
                              "it out for any ad.")
    elif kind == "button":
        check_strings(trigger.get("ids"), "trigger.ids", longest=256)
    elif kind == "outside_hours":
        checked["every_hours"] = check_int(trigger.get("every_hours", EVERY_HOURS),
                                           "trigger.every_hours", 1, 24 * 365)
    elif kind in DELAYED:
        check_int(trigger["minutes"], "trigger.minutes", 1, MOST_MINUTES)
    return checked


def _first_message(trigger: dict[str, Any], inbound: Inbound) -> bool:
    message = inbound.message
    # Messages of one second (a delivery's batch) are ordered as stored: the first one counts.
    before = Q(timestamp__lt=message.timestamp) | Q(timestamp=message.timestamp,
                                                    pk__lt=message.pk)
    earlier = (Message.objects.filter(before, customer=inbound.customer, sender_type="customer")
               .order_by("-timestamp").values_list("timestamp", flat=True).first())
    if earlier is None:
        return True
    after_days = trigger.get("after_days")
    return bool(after_days) and message.timestamp - earlier >= timedelta(days=after_days)


def _keyword(trigger: dict[str, Any], inbound: Inbound) -> bool:
    text = inbound.text
    if not text:
        return False
    keywords = [normalise(keyword) for keyword in trigger["keywords"]]
    match = trigger.get("match", "contains")
    if match == "exact":
        return text in keywords
    if match == "starts_with":
        return any(text.startswith(keyword) for keyword in keywords)
    return any(keyword in text for keyword in keywords)


def _referral(trigger: dict[str, Any], inbound: Inbound) -> bool:
    source_id = inbound.referral_source_id
    wanted = trigger.get("source_id")
    return source_id is not None and (wanted is None or source_id == wanted)


def _button(trigger: dict[str, Any], inbound: Inbound) -> bool:
    return inbound.reply_id is not None and inbound.reply_id in trigger["ids"]


def _outside_hours(rule: AutomationRule, trigger: dict[str, Any], inbound: Inbound) -> bool:
    if inbound.open_now:
        return False
    # The caller holds the customer's row lock: two messages at once cannot both pass this.
    since = inbound.now - timedelta(hours=trigger.get("every_hours", EVERY_HOURS))
    return not AutomationRun.objects.filter(
        rule=rule, customer=inbound.customer, created_at__gt=since).exists()


def fires(rule: AutomationRule, inbound: Inbound) -> bool:
    """Whether `rule`'s trigger matches this inbound message (a delayed one never: it is armed,
    and fired by beat when due)."""
    trigger = rule.trigger
    kind = trigger["type"]
    if kind in DELAYED:
        return False
    if kind == "outside_hours":
        return _outside_hours(rule, trigger, inbound)
    return {"first_message": _first_message, "keyword": _keyword, "referral": _referral,
            "button": _button}[kind](trigger, inbound)

"""What changes contacts: labels on customers, attributes, private notes and the conversation
status; each change one transaction, announced live to the organization's open inboxes.

A customer's new message reopens a resolved or snoozed conversation in the webhook's own update
of the customer (crm.webhooks.store), so storing a message costs no extra statement. Setting a
conversation resolved records the resolution (crm.reports.resolutions) for the dashboard.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from crm.contacts.attributes import KEY, check_text, clean_values
from crm.contacts.errors import (
    DuplicateLabel,
    InvalidLabel,
    InvalidNote,
    InvalidStatus,
    UnknownLabel,
)
from crm.inbox import events
from crm.models import AttributeDefinition, ConversationNote, Customer, CustomerLabel, Label
from crm.models import Role, User
from crm.reports import resolutions
from crm.roles import role_of
from tenancy.context import tenant_context, unscoped

Status = Customer.ConversationStatus
DEFAULT_COLOR = "#64748b"
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
LONGEST_LABEL = 50
MOST_LABELS = 50  # names in one call
LONGEST_NOTE = 5000
MOST_MENTIONS = 20
MOST_SNOOZE = timedelta(days=365)
# "@asha" or "@asha.rao" in a note's text names the agent with that username.
MENTION = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")
MENTIONABLE_ROLES = (Role.AGENT, Role.ORG_ADMIN)


def check_label(name: Any, color: Any = DEFAULT_COLOR) -> tuple[str, str]:
    """(name, color) of a well-formed label; else InvalidLabel naming the field."""
    name = check_text(name, "name", LONGEST_LABEL, InvalidLabel)
    if color is None or color == "":
        color = DEFAULT_COLOR
    if not isinstance(color, str) or not COLOR.fullmatch(color):
        raise InvalidLabel("color", "give a color as #rrggbb, such as #16a34a.")
    return name, color.lower()


def check_unique_label(name: str, exclude: Any = None, organization_id: Any = None) -> None:
    """DuplicateLabel if another label of the organization (the active one, or the given one
    where platform staff work across organizations) has `name`, ignoring case."""
    others = Label.objects.annotate(lower=Lower("name")).filter(lower=name.lower())
    if organization_id is not None:
        others = others.filter(organization_id=organization_id)
    if exclude is not None:
        others = others.exclude(pk=exclude)
    if others.exists():
        raise DuplicateLabel("name", f"the label {name!r} exists already: use it, or choose "
                             "another name.")


def create_label(name: Any, color: Any = DEFAULT_COLOR) -> Label:
    """A new label of the active organization; DuplicateLabel if the name is taken."""
    name, color = check_label(name, color)
    check_unique_label(name)
    return Label.objects.create(name=name, color=color)


def _names(names: Any) -> list[str]:
    """Distinct label names (first spelling kept), checked."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or len(names) > MOST_LABELS:
        raise InvalidLabel("labels", f"give a list of at most {MOST_LABELS} label names.")
    seen: dict[str, str] = {}
    for index, name in enumerate(names):
        try:
            name, _ = check_label(name)
        except InvalidLabel as error:
            raise InvalidLabel(f"labels[{index}]", error.problem) from None
        seen.setdefault(name.lower(), name)
    return list(seen.values())


def may_create_labels(by: Any) -> bool:
    """Whether `by` may create labels while applying them: the system (None), ORG_ADMIN and
    platform staff; agents apply the organization's existing labels only."""
    return by is None or role_of(by) != Role.AGENT


def labels_named(names: list[str], *, create: bool) -> list[Label]:
    """The organization's labels of these names (any case), created where missing if `create`,
    else UnknownLabel naming the first missing one."""
    wanted = {name.lower(): name for name in names}
    found = {label.lower: label for label in Label.objects.annotate(lower=Lower("name"))
             .filter(lower__in=list(wanted))}
    missing = [name for key, name in wanted.items() if key not in found]
    if missing and not create:
        raise UnknownLabel("labels", f"your organization has no label {missing[0]!r}: ask an "
                           "administrator to create it, or choose an existing one.")
    if missing:
        Label.objects.bulk_create([Label(name=name, color=DEFAULT_COLOR) for name in missing],
                                  ignore_conflicts=True)  # a concurrent creation wins
        found.update((label.lower, label) for label in Label.objects.annotate(
            lower=Lower("name")).filter(lower__in=[name.lower() for name in missing]))
    return [found[key] for key in wanted]


def add_labels(customer: Customer, names: Any, *, by: Any = None) -> list[Label]:
    """Put the labels `names` on the customer (ones it has are kept); returns them."""
    names = _names(names)
    with transaction.atomic():
        labels = labels_named(names, create=may_create_labels(by))
        CustomerLabel.objects.bulk_create(
            [CustomerLabel(customer=customer, label=label) for label in labels],
            ignore_conflicts=True)
        events.publish(events.CONVERSATION, customer=customer.pk)
    return labels


def remove_labels(customer: Customer, names: Any, *, by: Any = None) -> int:
    """Take the labels `names` off the customer; unknown names are ignored. Returns how many."""
    lowered = [name.lower() for name in _names(names)]
    with transaction.atomic():
        removed, _ = CustomerLabel.objects.filter(customer=customer).annotate(
            lower=Lower("label__name")).filter(lower__in=lowered).delete()
        events.publish(events.CONVERSATION, customer=customer.pk)
    return removed


def check_attributes(values: Any) -> dict[str, Any]:
    """{key: stored value, or None to remove} of `values`, checked by the organization's
    definitions; else InvalidAttribute naming the key."""
    keys = [key for key in values if isinstance(key, str) and KEY.fullmatch(key)] if isinstance(
        values, dict) else []  # a key no definition can have is refused without a query
    definitions = {d.key: d for d in AttributeDefinition.objects.filter(key__in=keys)}
    return clean_values(values, definitions)


def set_attributes(customer: Customer, values: Any, *, by: Any = None) -> dict[str, Any]:
    """Set the customer's attributes `values` ({key: value}; null removes one), checked by the
    organization's definitions (InvalidAttribute names the key); returns all of them."""
    cleaned = check_attributes(values)
    with transaction.atomic():
        locked = Customer.objects.select_for_update().only("id", "attributes").get(pk=customer.pk)
        merged = {**(locked.attributes or {}), **cleaned}
        merged = {key: value for key, value in merged.items() if value is not None}
        Customer.objects.filter(pk=customer.pk).update(attributes=merged)
        events.publish(events.CONVERSATION, customer=customer.pk)
    customer.attributes = merged
    return merged


def _mentioned(body: str, mentions: Any) -> list[str]:
    """Ids of the staff a note mentions: given ids, and @usernames in its text."""
    if not isinstance(mentions, (list, tuple)) or len(mentions) > MOST_MENTIONS:
        raise InvalidNote("mentions", f"give a list of at most {MOST_MENTIONS} user ids.")
    ids = []
    for index, value in enumerate(mentions):
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            raise InvalidNote(f"mentions[{index}]",
                              "give a user id (from /api/v1/users/).") from None
    staff = User.objects.filter(role__name__in=MENTIONABLE_ROLES)
    found = set(staff.filter(pk__in=ids).values_list("pk", flat=True))
    for index, pk in enumerate(ids):
        if pk not in found:
            raise InvalidNote(f"mentions[{index}]", "no agent of your organization has this id.")
    usernames = set(MENTION.findall(body))
    if usernames:
        by_name = Q()
        for username in usernames:
            by_name |= Q(username__iexact=username)
        found |= set(staff.filter(by_name).values_list("pk", flat=True))
    return sorted(str(pk) for pk in found)


def add_note(customer: Customer, body: Any, *, by: Any, mentions: Any = ()) -> ConversationNote:
    """A private note of the team on the conversation (never sent to the customer); agents
    named by `mentions` (user ids) or by @username in the text see it under "Mentions"."""
    body = check_text(body, "body", LONGEST_NOTE, InvalidNote)
    author = by if isinstance(by, User) else None
    with transaction.atomic():
        note = ConversationNote.objects.create(customer=customer, author=author, body=body,
                                               mentions=_mentioned(body, mentions))
        events.publish(events.CONVERSATION, customer=customer.pk, users=note.mentions)
    return note


def check_status(status: Any, until: datetime | None, now: datetime) -> None:
    """InvalidStatus unless `status` is one of the statuses and `until` fits it."""
    if status not in Status.values:
        raise InvalidStatus("status", f"give one of {', '.join(Status.values)}.")
    if status == Status.SNOOZED:
        if until is None or not now < until <= now + MOST_SNOOZE:
            raise InvalidStatus("snoozed_until", "give a time in the next 365 days when the "
                                "conversation opens again.")
    elif until is not None:
        raise InvalidStatus("snoozed_until", "only a snoozed conversation has one: leave it out.")


def set_status(customer: Customer, status: Any, *, until: datetime | None = None,
               by: Any = None) -> None:
    """Set the conversation's status; `snoozed` needs `until`, when it opens again."""
    now = timezone.now()
    check_status(status, until, now)
    with transaction.atomic():
        # Under the row's lock: two agents resolving at once record one resolution.
        before = Customer.objects.select_for_update().filter(pk=customer.pk).values_list(
            "conversation_status", "user_id").first()
        Customer.objects.filter(pk=customer.pk).update(
            conversation_status=status, snoozed_until=until)
        if before and status == Status.RESOLVED and before[0] != Status.RESOLVED:
            resolutions.record(customer.pk, before[1], now)
        events.publish(events.CONVERSATION, customer=customer.pk)
    customer.conversation_status, customer.snoozed_until = status, until


def wake_snoozed(now: datetime | None = None) -> int:
    """The active organization's snoozed conversations whose time has come open again."""
    return Customer.objects.filter(
        conversation_status=Status.SNOOZED, snoozed_until__lte=now or timezone.now(),
    ).update(conversation_status=Status.OPEN, snoozed_until=None)


def wake_every_snoozed(now: datetime) -> int:
    """Beat: every organization's ended snoozes open again, each announced to its inboxes."""
    # Beat serves every organization: it looks across them on purpose, through the partial
    # index of snoozed customers, for the organizations with a snooze that ended.
    with unscoped():
        organizations = set(Customer.objects.filter(
            conversation_status=Status.SNOOZED, snoozed_until__lte=now,
        ).order_by().values_list("organization_id", flat=True).distinct())
    woken = 0
    for organization_id in sorted(organizations, key=str):
        with tenant_context(organization_id), transaction.atomic():
            woken += wake_snoozed(now)
            events.publish(events.CONVERSATION)
    return woken

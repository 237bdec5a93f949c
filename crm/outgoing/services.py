"""Outgoing webhooks' writes: subscriptions, `emit` (one delivery row per subscription, queued on
commit), and one delivery attempt with its outcome (success, a retry later, or the subscription
turned off after too many failures in a row)."""
from __future__ import annotations

import json
import random
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit
from collections.abc import Sequence
from typing import Any

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm import audit
from crm.integrations.errors import UnreadableSecrets
from crm.models import WebhookDelivery, WebhookSubscription
from crm.outgoing import client, subscribers
from crm.outgoing.addresses import check_url
from crm.outgoing.errors import InvalidSubscription, UnsafeAddress
from crm.outgoing.signing import SIGNATURE_HEADER, new_secret, signature
from tenancy.context import get_current_organization_id

EVENTS = ("message.received", "message.status", "order.paid", "lead.created",
          "conversation.assigned")
URL_LENGTH = 2000
ERROR_LENGTH = 500


def check_events(events: Any) -> list[str]:
    """The events as a list of known names without repeats; InvalidSubscription otherwise."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidSubscription("events", f"Give a list of one or more of {', '.join(EVENTS)}.")
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise InvalidSubscription("events", f"Unknown event {unknown[0][:50]!r}: choose from "
                                            f"{', '.join(EVENTS)}.")
    return list(dict.fromkeys(events))


def check_subscription_url(url: Any) -> str:
    """The URL, if http(s) to public addresses only; UnsafeAddress says what is wrong."""
    if not isinstance(url, str) or not url or len(url) > URL_LENGTH:
        raise InvalidSubscription("url", f"Give an http(s) URL of at most {URL_LENGTH} characters.")
    check_url(url)
    return url


def check_subscription(url: Any, events: Any) -> tuple[str, list[str]]:
    """The URL and events, checked; InvalidSubscription names the wrong field and how to fix it."""
    return check_subscription_url(url), check_events(events)


def create_subscription(url: str, events: list[str], *, description: str = "",
                        is_active: bool = True, by: Any = None
                        ) -> tuple[WebhookSubscription, str]:
    """A new subscription of the active organization, and its secret (shown to the caller once);
    audited as done by `by`."""
    url, events = check_subscription(url, events)
    secret = new_secret()
    subscription = WebhookSubscription(url=url, events=events, description=description,
                                       is_active=is_active)
    subscription.set_secret(secret)
    subscription.save()
    audit_subscription(audit.SUBSCRIPTION_CREATED, subscription, by=by)
    return subscription, secret


def delete_subscription(subscription: WebhookSubscription, *, by: Any = None) -> None:
    """Delete a subscription of the active organization (its deliveries with it), audited."""
    with transaction.atomic():
        audit_subscription(audit.SUBSCRIPTION_DELETED, subscription, by=by)
        subscription.delete()


def audit_subscription(action: str, subscription: WebhookSubscription, *, by: Any) -> None:
    """The audit entry of a subscription: its id, the receiver's host and the events; never the
    secret, nor the URL's path or query, which may carry the receiver's own token."""
    audit.record(action, actor=by, subscription=str(subscription.pk),
                 host=urlsplit(subscription.url).hostname or "",
                 events=", ".join(subscription.events or []))


def reactivated(subscription: WebhookSubscription, was_active: bool) -> None:
    """A subscription just turned back on starts over: no failures counted, no reason shown."""
    if subscription.is_active and not was_active:
        subscription.consecutive_failures = 0
        subscription.disabled_reason = ""
        subscription.save(update_fields=["consecutive_failures", "disabled_reason"])


def emit(event: str, data: dict[str, Any]) -> None:
    """Deliver `event` with `data` to every active subscription of the active organization that
    wants it: a delivery row each now, sent by Celery once the transaction commits."""
    emit_each(event, [data])


def emit_each(event: str, items: Sequence[dict[str, Any]]) -> None:
    """`emit` once per item of `items` (a batch: the subscriptions are read once)."""
    if event not in EVENTS:
        raise ValueError(f"unknown outgoing event {event!r}")
    wanted = subscribers.wanting(event)
    if not wanted or not items:
        return
    organization, now = str(get_current_organization_id()), timezone.now().isoformat()
    rows = []
    for data in items:
        event_id = uuid.uuid4()
        payload = {"id": str(event_id), "event": event, "created_at": now,
                   "organization": organization,
                   "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder))}
        rows += [WebhookDelivery(subscription=s, event=event, event_id=event_id, payload=payload)
                 for s in wanted]
    rows = WebhookDelivery.objects.bulk_create(rows)
    from crm.outgoing.tasks import queue_after_commit  # tasks import services, not the reverse

    queue_after_commit([row.pk for row in rows])


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt`: doubling, capped, with jitter."""
    wait = min(settings.OUTGOING_WEBHOOKS_MAX_WAIT,
               settings.OUTGOING_WEBHOOKS_BACKOFF * 2 ** (attempt - 1))
    return wait * random.uniform(0.8, 1.0)  # noqa: S311  (spreading retries, not a secret)


def attempt(delivery_id: uuid.UUID | str) -> WebhookDelivery | None:
    """Make one attempt of a pending delivery; return the next attempt's row to send after its
    `next_try_at`, or None when there is nothing more to do."""
    delivery = (WebhookDelivery.objects.select_related("subscription")
                .filter(pk=delivery_id, state=WebhookDelivery.State.PENDING).first())
    if delivery is None:
        return None  # done already (a task delivered twice), or deleted with its subscription
    subscription = delivery.subscription
    if not subscription.is_active:
        return _failed(delivery, "Not sent: the subscription is turned off.", count=False)
    try:
        target = check_url(subscription.url)
    except UnsafeAddress as error:
        return _failed(delivery, f"Not sent: {error}", retry=False)
    try:
        secret = subscription.signing_secret()
    except UnreadableSecrets as error:
        return _failed(delivery, f"Not sent: the subscription's secret: {error}", retry=False)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {SIGNATURE_HEADER: signature(secret, int(time.time()), body),
               "X-WBCRM-Event": delivery.event, "X-WBCRM-Event-Id": str(delivery.event_id),
               "X-WBCRM-Attempt": str(delivery.attempt)}
    try:
        answer = client.post(target, body, headers)
    except httpx.HTTPError as error:
        return _failed(delivery, f"No answer: {type(error).__name__}: {error}")
    outcome = {"status_code": answer.status_code, "answer": answer.excerpt}
    if 200 <= answer.status_code < 300:
        _succeeded(delivery, **outcome)
        return None
    if 300 <= answer.status_code < 400:
        return _failed(delivery, f"Answered {answer.status_code}, a redirect (to "
                                 f"{(answer.location or '?')[:200]}), which is not followed: "
                                 "subscribe the final URL.", **outcome)
    return _failed(delivery, f"Answered {answer.status_code}: a 2xx acknowledges a delivery.",
                   **outcome)


def _succeeded(delivery: WebhookDelivery, *, status_code: int, answer: str) -> None:
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=WebhookDelivery.State.SUCCEEDED, status_code=status_code, answer=answer,
            updated_at=timezone.now())
        WebhookSubscription.objects.filter(pk=delivery.subscription_id).exclude(
            consecutive_failures=0).update(consecutive_failures=0)


def _failed(delivery: WebhookDelivery, error: str, *, status_code: int | None = None,
            answer: str = "", retry: bool = True, count: bool = True) -> WebhookDelivery | None:
    """Record a failed attempt; count it against the subscription (turning it off at the limit)
    and return the retry's row when attempts are left."""
    now = timezone.now()
    error = error[:ERROR_LENGTH].replace("\x00", "\ufffd")  # an exception may quote anything
    subscriptions = WebhookSubscription.objects.filter(pk=delivery.subscription_id)
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=WebhookDelivery.State.FAILED, status_code=status_code, answer=answer,
            error=error, updated_at=now)
        if not count:
            return None
        subscriptions.update(consecutive_failures=F("consecutive_failures") + 1, updated_at=now)
        limit = settings.OUTGOING_WEBHOOKS_DISABLE_AFTER
        subscriptions.filter(is_active=True, consecutive_failures__gte=limit).update(
            is_active=False, updated_at=now, disabled_reason=(
                f"Turned off at {now:%Y-%m-%d %H:%M} UTC after {limit} failed attempts in a row; "
                f"the last: {error} Fix the receiver, then turn the subscription back on."))
        if (not retry or delivery.attempt >= settings.OUTGOING_WEBHOOKS_MAX_ATTEMPTS
                or not subscriptions.filter(is_active=True).exists()):
            return None
        return WebhookDelivery.objects.create(
            subscription_id=delivery.subscription_id, event=delivery.event,
            event_id=delivery.event_id, payload=delivery.payload, attempt=delivery.attempt + 1,
            next_try_at=now + timedelta(seconds=backoff(delivery.attempt)))

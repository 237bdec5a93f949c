"""Which subscriptions of the active organization want an event, read once per event.

Most organizations have no subscription, yet every stored message and status is an event: that
an organization has no active subscription is kept in the shared cache, so their events cost no
query. The answer is trusted only under the organization's generation token, read before the
query that found none; saving or deleting any of its subscriptions replaces the token once the
transaction commits, so every process sees a new subscription at its next event. Without the
cache (Redis unreachable) every event is a query, as before.
"""
from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import transaction

from crm.models import WebhookSubscription
from tenancy.context import get_current_organization_id

logger = logging.getLogger("crm.outgoing")
NONE_SECONDS = 60  # how long "no active subscription" is kept at most


def _keys(organization_id: uuid.UUID | None) -> tuple[str, str]:
    return (f"outgoing:subscriptions:{organization_id}:generation",
            f"outgoing:subscriptions:{organization_id}:none")


def _generation(key: str, cached: dict[str, object]) -> object:
    """The organization's token, made if the cache has none (a first event, an eviction)."""
    if key in cached:
        return cached[key]
    cache.add(key, uuid.uuid4().hex, None)
    return cache.get(key)


def wanting(event: str) -> list[WebhookSubscription]:
    """The active organization's active subscriptions that want `event` (ids and events)."""
    organization_id = get_current_organization_id()
    generation_key, none_key = _keys(organization_id)
    generation = None
    try:
        if organization_id is not None:  # inside unscoped() no answer is kept: no token renews it
            cached = cache.get_many([generation_key, none_key])
            generation = _generation(generation_key, cached)
            if generation is not None and cached.get(none_key) == generation:
                return []
    except Exception as error:  # the cache only spares queries: without it, query
        logger.warning("outgoing subscriptions read without the cache: %s", error)
        generation = None
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True)
                         .only("id", "events"))
    if not subscriptions and generation is not None:
        try:
            cache.set(none_key, generation, NONE_SECONDS)
        except Exception as error:  # as above: the next event queries again
            logger.warning("outgoing subscriptions: none not kept: %s", error)
    return [s for s in subscriptions if isinstance(s.events, list) and event in s.events]


def changed(organization_id: uuid.UUID | None) -> None:
    """A subscription of the organization was saved or deleted: once committed, no process
    trusts an earlier "none"."""
    generation_key, _ = _keys(organization_id)

    def renew() -> None:
        try:
            cache.set(generation_key, uuid.uuid4().hex, None)
        except Exception as error:  # a "none" kept before then lasts NONE_SECONDS at most
            logger.error("outgoing subscriptions: generation not renewed: %s", error)

    transaction.on_commit(renew)

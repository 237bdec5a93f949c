"""Pushing leads to the organization's Zoho CRM: by hand, or queued when a lead is created.

A push takes the lead's lock in Redis (one push of a lead at a time, so Zoho never gets it twice),
buys or reuses the access token (crm.zoho.oauth), and stores Zoho's id in `zoho_lead_id`. Refused
credentials mark the integration broken, which the ORG_ADMIN sees, and the lead waits until the
credentials are replaced (crm.zoho.provider queues the waiting leads then).
"""
from __future__ import annotations

import logging
from contextlib import suppress

from django.utils import timezone
from redis.exceptions import LockError

from crm import shared_state
from crm.integrations import credentials as integration
from crm.integrations.credentials import Credentials
from crm.models import Customer, IntegrationCredential, Lead
from crm.zoho import mapping, oauth
from crm.zoho.client import ZohoClient
from crm.zoho.errors import (
    AlreadyPushed,
    Broken,
    ExpiredToken,
    InProgress,
    NotConfigured,
    Rejected,
    ZohoError,
)

logger = logging.getLogger("crm.zoho")

PROVIDER = "zoho"
LEAD_LOCK_SECONDS = 120  # longer than a push takes: three calls (ZOHO_TIMEOUT) and a lock wait
Push = Lead.ZohoPush


def _set(lead: Lead, status: str, error: str | None = None) -> None:
    Lead.objects.filter(pk=lead.pk).update(zoho_push_status=status, zoho_push_error=error)
    lead.zoho_push_status, lead.zoho_push_error = status, error


def push_later(lead: Lead) -> None:
    """Push `lead` once the transaction commits when Zoho is configured and working; when its
    credentials are broken the lead waits for new ones; without Zoho nothing happens."""
    credentials = integration.load(PROVIDER)
    if credentials is None:
        return
    if credentials.status == IntegrationCredential.Status.BROKEN:
        _set(lead, Push.WAITING, str(_stored_broken()))
        return
    queue(lead)


def queue(lead: Lead) -> None:
    """Mark the lead queued and queue its push when the transaction commits."""
    from crm.zoho import tasks  # here: tasks imports this module

    _set(lead, Push.QUEUED)
    tasks.push_after_commit(str(lead.pk))


def push_lead(lead: Lead) -> Lead:
    """Push `lead` to Zoho now; the lead with Zoho's id. ZohoError says why not (and whether a
    retry may help: `retryable`)."""
    credentials = integration.load(PROVIDER)
    if credentials is None:
        raise NotConfigured()
    lock = shared_state.connection().lock(
        shared_state.key("zoho", credentials.organization_id, "lead", lead.pk),
        timeout=LEAD_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        raise InProgress("This lead is being pushed to Zoho right now: look at it again in a "
                         "minute.")
    try:
        return _push_locked(lead, credentials)
    finally:
        with suppress(LockError):  # expired during a very slow push: nothing of ours to free
            lock.release()


def _push_locked(lead: Lead, credentials: Credentials) -> Lead:
    lead.refresh_from_db()
    if lead.zoho_push_status == Push.PUSHED:
        raise AlreadyPushed(f"This lead is in Zoho CRM already (id {lead.zoho_lead_id}).")
    if credentials.status == IntegrationCredential.Status.BROKEN:
        error = _stored_broken()
        _set(lead, Push.WAITING, str(error))
        raise error
    record = mapping.to_record(lead)
    ids = {"lead_id": str(lead.pk), "wa_id": lead.wa_id}
    client = ZohoClient(credentials, **ids)
    try:
        token = oauth.access_token(credentials, **ids)
        if credentials.status != IntegrationCredential.Status.OK:
            integration.mark_ok(PROVIDER)  # Zoho took the refresh token
        try:
            zoho_id = client.create_lead(token, record)
        except ExpiredToken:
            zoho_id = client.create_lead(oauth.access_token(credentials, refused=token, **ids),
                                         record)
    except Broken as error:
        oauth.forget(credentials)
        integration.mark_broken(PROVIDER, str(error))
        logger.warning("Zoho credentials of organization %s refused: %s", credentials
                       .organization_id, error.reason)
        _set(lead, Push.WAITING, str(error))
        raise
    except Rejected as error:
        _set(lead, Push.FAILED, str(error))
        raise
    Lead.objects.filter(pk=lead.pk).update(
        zoho_lead_id=zoho_id, zoho_push_status=Push.PUSHED, zoho_pushed_at=timezone.now(),
        zoho_push_error=None, zoho_mapped_concern=record.get(mapping.CONCERN,
                                                             lead.zoho_mapped_concern))
    lead.refresh_from_db()
    return lead


def _stored_broken() -> Broken:
    """Broken with the reason stored when the credentials were refused."""
    row = IntegrationCredential.objects.filter(provider=PROVIDER).first()
    return Broken("broken", row.status_reason if row and row.status_reason else None)


def give_up(lead_id: str, error: ZohoError) -> None:
    """The push task's retries are spent: the lead is marked failed with the last error."""
    Lead.objects.filter(pk=lead_id).exclude(zoho_push_status=Push.PUSHED).update(
        zoho_push_status=Push.FAILED, zoho_push_error=f"{error} (retries spent: push it by hand)")


def push_waiting() -> int:
    """Queue every lead waiting for working credentials; how many."""
    waiting = list(Lead.objects.filter(zoho_push_status=Push.WAITING))
    for lead in waiting:
        queue(lead)
    return len(waiting)


def push_for_customer(customer: Customer, local_id: str) -> Lead:
    """Push the customer's latest lead, or a new one (automation's push_lead action)."""
    from crm.automation import flows  # here: flows creates leads and calls push_later

    if integration.load(PROVIDER) is None:
        raise NotConfigured()
    lead = Lead.objects.filter(customer=customer).order_by("-created_at").first()
    if lead is None:
        return flows.create_lead(customer, {}, local_id)
    if lead.zoho_push_status != Push.PUSHED:
        push_later(lead)
    return lead

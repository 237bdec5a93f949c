"""Outgoing webhooks: an organization's subscribed URLs get its events, signed, with retries.

`emit(event, data)` is the one entry point for the code where events happen.
"""
from crm.outgoing.services import EVENTS, emit

__all__ = ["EVENTS", "emit"]

"""Outgoing webhooks: an organization's subscribed URLs get its events, signed, with retries.

`emit(event, data)` (or `emit_each` for a batch) is the entry point for the code where events
happen.
"""
from crm.outgoing.services import EVENTS, emit, emit_each

__all__ = ["EVENTS", "emit", "emit_each"]

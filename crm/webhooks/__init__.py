"""WhatsApp Cloud API webhook: signature, parsing into dataclasses, ingestion per organization.

views (HTTP) -> signature (handshake, HMAC) -> parsing (validated whole by the pydantic models of
crm.whatsapp.inbound) + content -> ingest (route each change to the organization owning its
number) -> store / statuses (writes).
"""

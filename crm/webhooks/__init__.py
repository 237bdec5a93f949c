"""WhatsApp Cloud API webhook: signature, parsing into dataclasses, ingestion per organization.

views (HTTP) -> signature (handshake, HMAC) -> parsing + content (validate everything first) ->
ingest (route each change to the organization owning its number) -> store / statuses (writes).
"""

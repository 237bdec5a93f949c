"""Outbound WhatsApp: the Graph API client, message schemas, errors and the send service."""

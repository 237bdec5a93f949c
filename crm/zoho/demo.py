"""The demo's Zoho CRM org: credentials bench/fake_zoho.py accepts (any client and refresh token
it has not revoked), stored by seed_demo for the first demo organization (never real ones, so
they may be printed)."""
from __future__ import annotations

from crm.integrations import credentials
from crm.zoho.services import PROVIDER

CLIENT_ID = "1000.DEMOCLIENTID"
CLIENT_SECRET = "demo-client-secret"
REFRESH_TOKEN = "1000.demo-refresh-token"
DOMAIN = "zoho.in"


def configure() -> bool:
    """Store the demo credentials for the current organization unless it has Zoho credentials
    already; whether it stored them."""
    if credentials.load(PROVIDER) is not None:
        return False
    credentials.save(PROVIDER, {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                "refresh_token": REFRESH_TOKEN, "domain": DOMAIN})
    return True

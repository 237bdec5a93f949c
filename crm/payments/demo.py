"""The demo's Razorpay account: the keys bench/fake_razorpay.py accepts by default, stored by
seed_demo for the first demo organization (never real keys, so they may be printed)."""
from __future__ import annotations

from crm.integrations import credentials
from crm.payments.razorpay import PROVIDER

KEY_ID = "rzp_test_demo"
KEY_SECRET = "demo-key-secret"
WEBHOOK_SECRET = "demo-webhook-secret"


def configure() -> bool:
    """Store the demo keys for the current organization unless it has Razorpay keys already;
    whether it stored them."""
    if credentials.load(PROVIDER) is not None:
        return False
    credentials.save(PROVIDER, {"key_id": KEY_ID, "key_secret": KEY_SECRET,
                                "webhook_secret": WEBHOOK_SECRET})
    return True

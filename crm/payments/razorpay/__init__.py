"""Razorpay (payment links and their webhook), registered as the "razorpay" integration.

Each organization stores its own key id, key secret and webhook secret; `payment_link_template`
(optional) names the template that carries a link outside the 24-hour window.
"""
from __future__ import annotations

from crm.integrations.credentials import Credentials
from crm.integrations.registry import register

PROVIDER = "razorpay"


def _test(credentials: Credentials) -> None:
    from crm.payments.razorpay.client import RazorpayClient

    RazorpayClient(credentials).check()


register(PROVIDER, fields=("key_id",), secret_fields=("key_secret", "webhook_secret"),
         optional_fields=("payment_link_template", "payment_link_template_language"),
         test=_test)

"""Helpers of the account tests: the links the e-mails carry, and sign-up input."""
from __future__ import annotations

import re
from typing import Any

from django.core import mail
from django.test import TestCase
from rest_framework.test import APIClient

STRONG = "Wb-crm-signup-9431"
SIGNUP = {"organization_name": "Sunrise Clinic", "name": "Meera Rao",
          "email": "meera@sunrise.example", "username": "meera", "password": STRONG}


def mailed() -> Any:
    """A block whose on-commit work (the e-mails) runs at its end, as after a real commit."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def link_token(path: str, to: str | None = None) -> str:
    """The token of the last e-mailed link under `path` (to `to`, when given)."""
    for message in reversed(mail.outbox):
        if to is None or to in message.to:
            found = re.search(rf"{re.escape(path)}([^/\s]+)/", message.body)
            if found:
                return found.group(1)
    raise AssertionError(f"no e-mail holds a {path} link")


def sign_up(**changes: Any) -> Any:
    """POST /api/v1/signup/ with SIGNUP changed by `changes`."""
    with mailed():
        return APIClient().post("/api/v1/signup/", {**SIGNUP, **changes}, format="json")


def token_for(username: str, password: str = STRONG, **extra: str) -> Any:
    """POST /api/v1/auth/token/."""
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password,
                                                    **extra}, format="json")


def with_token(key: str) -> APIClient:
    """An API client using the token `key`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client

"""Load and store the current organization's credentials for a provider.

Secrets leave the database encrypted and are decrypted only inside `Credentials.secret()`, at the
moment a client builds its request; `Credentials`' repr and every error name fields, never values.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from crm import audit
from crm.integrations import crypto, registry
from crm.integrations.errors import IntegrationError, InvalidCredentials, NotConfigured
from crm.models import IntegrationCredential
from crm.storable import unstorable

MAX_LENGTH = 2000
MASK = "********"


@dataclass(frozen=True)
class Credentials:
    """A provider's configuration of the current organization; secrets decrypted on demand."""

    provider: str
    organization_id: Any
    config: dict[str, Any]
    status: str
    _token: str = field(repr=False, default="")

    def secret(self, name: str) -> str:
        """The decrypted secret `name`; NotConfigured when it was never stored."""
        value = json.loads(crypto.decrypt(self._token)).get(name) if self._token else None
        if not value:
            raise NotConfigured(self.provider)
        return str(value)

    def __repr__(self) -> str:
        return f"Credentials({self.provider!r}, config={self.config!r}, secrets=<hidden>)"


def _row(provider: str) -> IntegrationCredential | None:
    return IntegrationCredential.objects.filter(provider=provider).first()


def load(provider: str) -> Credentials | None:
    """The current organization's credentials for `provider`, None when it has none."""
    row = _row(provider)
    if row is None:
        return None
    return Credentials(provider, row.organization_id, dict(row.config or {}), row.status,
                       row.secrets)


def require(provider: str) -> Credentials:
    """Like `load`, but NotConfigured (saying how to configure it) when there are none."""
    credentials = load(provider)
    if credentials is None:
        raise NotConfigured(provider)
    return credentials


def _clean(value: Any, name: str, problems: dict[str, str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems[name] = "must be a string"
    elif len(value) > MAX_LENGTH or unstorable(value) or value != value.strip():
        problems[name] = (f"must be at most {MAX_LENGTH} characters, without surrounding spaces, "
                          "NUL or lone surrogates")
    else:
        return value
    return None


def prepare(provider: str, values: Any, stored_token: str = "") -> tuple[dict[str, Any], str]:
    """`provider`'s plain fields and its secrets encrypted, from `values`; InvalidCredentials
    naming each field that is missing, unknown or malformed.

    A secret left out (or empty) keeps the stored one (`stored_token`), so a form or client that
    never saw it can change the other fields; every field is required once.
    """
    spec = registry.get(provider)
    if not isinstance(values, dict):
        raise InvalidCredentials({"non_field_errors": "send a JSON object of the fields"})
    known = {*spec.fields, *spec.optional_fields, *spec.secret_fields}
    problems = {str(name)[:40]: "unknown field, use one of " + ", ".join(sorted(known))
                for name in values if name not in known}
    config = {}
    for name in (*spec.fields, *spec.optional_fields):
        value = _clean(values.get(name), name, problems)
        if value is not None:
            config[name] = value
        elif name in spec.fields and name not in problems:
            problems[name] = "this field is required"
    stored = json.loads(crypto.decrypt(stored_token)) if stored_token else {}
    secrets = {}
    for name in spec.secret_fields:
        value = _clean(values.get(name), name, problems) or stored.get(name)
        if value:
            secrets[name] = value
        elif name not in problems:
            problems[name] = "this field is required"
    if problems:
        raise InvalidCredentials(problems)
    return config, crypto.encrypt(json.dumps(secrets))


def save(provider: str, values: Any, *, by: Any = None) -> IntegrationCredential:
    """Store `provider`'s fields for the current organization (status back to untested); the
    audit log names `by` and the provider."""
    with transaction.atomic():
        row = IntegrationCredential.objects.select_for_update().filter(provider=provider).first()
        config, token = prepare(provider, values, row.secrets if row else "")
        replaced = row is not None
        row = row or IntegrationCredential(provider=provider)
        row.config, row.secrets = config, token
        row.status, row.status_reason = IntegrationCredential.Status.UNTESTED, ""
        row.save()
        audited(provider, replaced=replaced, by=by)
    return row


def audited(provider: str, *, replaced: bool, by: Any) -> None:
    """Write the audit entry of stored (or replaced) credentials: who and which provider only."""
    audit.record(audit.CREDENTIALS_REPLACED if replaced else audit.CREDENTIALS_STORED,
                 actor=by, provider=provider)


def delete(provider: str, *, by: Any = None) -> bool:
    """Forget the current organization's credentials for `provider`; whether there were any."""
    registry.get(provider)
    with transaction.atomic():
        deleted = IntegrationCredential.objects.filter(provider=provider).delete()[0] > 0
        if deleted:
            audit.record(audit.CREDENTIALS_DELETED, actor=by, provider=provider)
    return deleted


def _mark(provider: str, status: str, reason: str) -> None:
    IntegrationCredential.objects.filter(provider=provider).update(
        status=status, status_reason=reason[:1000])


def mark_broken(provider: str, reason: str) -> None:
    """Record that `provider`'s credentials failed, and why (shown to the ORG_ADMIN)."""
    _mark(provider, IntegrationCredential.Status.BROKEN, reason)


def mark_ok(provider: str) -> None:
    """Record that `provider`'s credentials worked."""
    _mark(provider, IntegrationCredential.Status.OK, "")


def check(provider: str) -> IntegrationCredential:
    """Run the provider's harmless test call and record its outcome; the updated row."""
    spec = registry.get(provider)
    credentials = require(provider)
    try:
        spec.test(credentials)
    except IntegrationError as error:
        mark_broken(provider, str(error))
    else:
        mark_ok(provider)
    return IntegrationCredential.objects.get(provider=provider)


def masked(row: IntegrationCredential) -> dict[str, Any]:
    """What the API and the admin show of a row: the plain fields, each secret as set or not."""
    spec = registry.get(row.provider)
    return {
        "provider": row.provider,
        "config": dict(row.config or {}),
        # Every secret is required, so a stored row holds them all: nothing is decrypted to say so.
        "secrets": {name: MASK if row.secrets else None for name in spec.secret_fields},
        "status": row.status,
        "status_reason": row.status_reason,
        "updated_at": row.updated_at,
    }

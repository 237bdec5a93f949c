"""Integration errors, each saying what to do; none ever carries a secret."""
from __future__ import annotations


class IntegrationError(Exception):
    """A provider refused the credentials or could not be reached; the text says what to fix."""


class NotConfigured(IntegrationError):
    """The organization has no credentials for the provider."""

    def __init__(self, provider: str) -> None:
        super().__init__(
            f"{provider.capitalize()} is not configured for this organization: an ORG_ADMIN "
            f"stores its credentials with PUT /api/v1/integrations/{provider}/ (or in the admin, "
            "Integration credentials).")
        self.provider = provider


class UnknownProvider(IntegrationError):
    """No provider of that name is registered."""

    def __init__(self, provider: str, known: list[str]) -> None:
        super().__init__(f"Unknown integration {provider[:40]!r}: use one of "
                         f"{', '.join(known) or 'none'}.")


class InvalidCredentials(IntegrationError):
    """Fields missing or malformed; `fields` maps each field to what is wrong with it."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in fields.items()))
        self.fields = fields


class UnreadableSecrets(IntegrationError):
    """The stored secrets were encrypted with a key FIELD_ENCRYPTION_KEY no longer holds."""

    def __init__(self) -> None:
        super().__init__(
            "The stored secrets cannot be decrypted with any key of FIELD_ENCRYPTION_KEY: put "
            "back the key they were written with (after the new one), or store the credentials "
            "again.")

"""The providers an organization may configure; each provider package registers itself
(crm.payments.razorpay registers "razorpay") when the app is ready."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crm.integrations.errors import UnknownProvider

if TYPE_CHECKING:
    from crm.integrations.credentials import Credentials


@dataclass(frozen=True)
class Provider:
    """A provider's fields: required plain ones, optional plain ones, and secret ones."""

    name: str
    fields: tuple[str, ...]
    secret_fields: tuple[str, ...]
    test: Callable[["Credentials"], None]
    optional_fields: tuple[str, ...] = ()


_providers: dict[str, Provider] = {}


def register(provider: str, *, fields: tuple[str, ...] | list[str],
             secret_fields: tuple[str, ...] | list[str],
             test: Callable[["Credentials"], None],
             optional_fields: tuple[str, ...] | list[str] = ()) -> Provider:
    """Declare `provider`; `test` makes one harmless call, raising IntegrationError in words."""
    entry = Provider(provider, tuple(fields), tuple(secret_fields), test, tuple(optional_fields))
    _providers[provider] = entry
    return entry


def get(provider: str) -> Provider:
    """The registered provider; UnknownProvider otherwise."""
    try:
        return _providers[provider]
    except KeyError:
        raise UnknownProvider(provider, names()) from None


def names() -> list[str]:
    """Every registered provider's name."""
    return sorted(_providers)

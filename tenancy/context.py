"""The current organization, held in a ContextVar (per thread and per asyncio task).

The API mirrors django.utils.timezone: `tenant_context()` is `override()`, `unscoped()` is the
explicit, greppable way to cross organizations.
"""
from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from contextlib import ContextDecorator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TenantState:
    """What the ORM may see: one organization, or every one inside `unscoped()`."""

    organization_id: uuid.UUID | None = None
    unscoped: bool = False


_NONE = TenantState()
# Threads start with an empty context, so a thread started inside an organization has none.
_state: ContextVar[TenantState] = ContextVar("tenancy_state", default=_NONE)


def _organization_id(organization: Any) -> uuid.UUID:
    """Normalise an Organization, a UUID or a UUID string to a UUID."""
    value = getattr(organization, "pk", organization)
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise TypeError(
        f"tenant_context() takes an Organization or its UUID, not {organization!r}; "
        "use unscoped() to work across organizations."
    )


def get_state() -> TenantState:
    """Return the active tenant state."""
    return _state.get()


def get_current_organization_id() -> uuid.UUID | None:
    """Return the active organization's id, or None (none active, or inside `unscoped()`)."""
    return _state.get().organization_id


def is_unscoped() -> bool:
    """Return True inside `unscoped()`."""
    return _state.get().unscoped


def activate(organization: Any) -> Token[TenantState]:
    """Make `organization` current; pass the returned token to `deactivate()` in a `finally`."""
    return _state.set(TenantState(organization_id=_organization_id(organization)))


def deactivate(token: Token[TenantState]) -> None:
    """Restore the state that was active before the matching `activate()`."""
    _state.reset(token)


class _StateOverride(ContextDecorator):
    """Context manager and decorator that sets a state and restores the previous one.

    As a decorator every call enters a fresh copy, so concurrent calls from threads or asyncio
    tasks never share a token; a coroutine function keeps the state while it runs.
    """

    def __init__(self, state: TenantState) -> None:
        self.state = state
        self._tokens: list[Token[TenantState]] = []

    def _recreate_cm(self) -> _StateOverride:
        return type(self)(self.state)

    def __call__(self, func: F) -> F:
        if not iscoroutinefunction(func):
            return super().__call__(func)

        @functools.wraps(func)
        async def inner(*args: Any, **kwargs: Any) -> Any:
            with self._recreate_cm():
                return await func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    def __enter__(self) -> _StateOverride:
        # A stack, so one instance entered twice (nested `with`) restores each level.
        self._tokens.append(_state.set(self.state))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _state.reset(self._tokens.pop())


def tenant_context(organization: Any) -> _StateOverride:
    """Run a block (or decorate a function) as `organization`; nests and restores."""
    return _StateOverride(TenantState(organization_id=_organization_id(organization)))


def unscoped() -> _StateOverride:
    """Run a block across every organization; say at the call site why it must."""
    return _StateOverride(TenantState(unscoped=True))


def no_organization() -> _StateOverride:
    """Run a block with no organization at all (tenant queries raise), whatever is active."""
    return _StateOverride(_NONE)

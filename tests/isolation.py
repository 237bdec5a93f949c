"""What the isolation suites expect of the Python layer, and of PostgreSQL's policies alone.

With the Python scope on, a refused write raises CrossTenantError and a query with no
organization TenantNotSetError. With the database alone (`python_scope` False) the same attempt
fails with the policy's error or changes no row; callers then check that B's rows are unchanged.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, transaction

from tenancy.exceptions import CrossTenantError, TenantNotSetError


@contextmanager
def refused(python_scope: bool, error: type[Exception] = CrossTenantError) -> Iterator[None]:
    """A write of another organization's row: `error`, or the database refuses or ignores it."""
    if python_scope:
        with pytest.raises(error):
            yield
        return
    try:
        with transaction.atomic():  # a refused statement must not abort the test's transaction
            yield
    except DatabaseError as failure:
        assert "row-level security" in str(failure) or "no organization" in str(failure)


@contextmanager
def no_organization(python_scope: bool) -> Iterator[None]:
    """A tenant statement with no organization active fails: never all rows, never none."""
    if python_scope:
        with pytest.raises(TenantNotSetError):
            yield
        return
    with pytest.raises(DatabaseError, match="no organization is active"), transaction.atomic():
        yield

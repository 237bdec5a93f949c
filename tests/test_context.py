"""tenancy.context: activation, nesting, restoring, threads and asyncio tasks."""
from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from tenancy.context import (
    activate,
    deactivate,
    get_current_organization_id,
    is_unscoped,
    tenant_context,
    unscoped,
)

A = uuid.uuid4()
B = uuid.uuid4()


def test_nothing_active_by_default() -> None:
    assert get_current_organization_id() is None
    assert not is_unscoped()


def test_tenant_context_nests_and_restores() -> None:
    with tenant_context(A):
        assert get_current_organization_id() == A
        with tenant_context(str(B)):
            assert get_current_organization_id() == B
            with unscoped():
                assert is_unscoped() and get_current_organization_id() is None
            assert get_current_organization_id() == B and not is_unscoped()
        assert get_current_organization_id() == A
    assert get_current_organization_id() is None


def test_restored_when_the_block_raises() -> None:
    with pytest.raises(ZeroDivisionError), tenant_context(A):
        1 / 0
    assert get_current_organization_id() is None


def test_decorator_form_is_reentrant() -> None:
    seen: list[uuid.UUID | None] = []

    @tenant_context(A)
    def visit(depth: int) -> None:
        seen.append(get_current_organization_id())
        if depth:
            with tenant_context(B):
                visit(depth - 1)
            seen.append(get_current_organization_id())

    visit(2)
    assert seen == [A, A, A, A, A]
    assert get_current_organization_id() is None


def test_takes_an_organization_object(org_a) -> None:
    with tenant_context(org_a):
        assert get_current_organization_id() == org_a.pk


@pytest.mark.parametrize("bad", [None, 42, "not-a-uuid", object()])
def test_rejects_what_is_not_an_organization(bad: object) -> None:
    with pytest.raises(TypeError, match="unscoped"):
        tenant_context(bad)


def test_activate_and_deactivate() -> None:
    token = activate(A)
    try:
        assert get_current_organization_id() == A
    finally:
        deactivate(token)
    assert get_current_organization_id() is None


def test_a_thread_started_inside_an_organization_starts_with_none() -> None:
    seen: list[uuid.UUID | None] = []
    with tenant_context(A):
        thread = threading.Thread(target=lambda: seen.append(get_current_organization_id()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_concurrent_asyncio_tasks_keep_their_own_organization() -> None:
    async def work(org: uuid.UUID) -> list[uuid.UUID | None]:
        seen = []
        with tenant_context(org):
            for _ in range(50):
                await asyncio.sleep(0)
                seen.append(get_current_organization_id())
        return seen

    async def main() -> list[list[uuid.UUID | None]]:
        return await asyncio.gather(*(work(org) for org in [A, B] * 10))

    for org, seen in zip([A, B] * 10, asyncio.run(main())):
        assert set(seen) == {org}
    assert get_current_organization_id() is None

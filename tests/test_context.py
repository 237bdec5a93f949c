"""tenancy.context: activation, nesting, restoring, threads and asyncio tasks."""
from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

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
        thread.join(timeout=30)
    assert not thread.is_alive() and seen == [None]


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


def _decorated_by_threads(scope: object, calls: int = 16) -> list[tuple[uuid.UUID | None, bool]]:
    """Call a function decorated by `scope` from `calls` threads at once, each nesting inside."""
    barrier = threading.Barrier(calls, timeout=30)  # a thread that never arrives fails the test

    @scope
    def visit(nested: uuid.UUID) -> tuple[uuid.UUID | None, bool]:
        barrier.wait()  # every thread is inside the decorated function at the same time
        with tenant_context(nested):
            barrier.wait()
        barrier.wait()
        return get_current_organization_id(), is_unscoped()

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return list(pool.map(visit, [uuid.uuid4() for _ in range(calls)]))


def test_a_decorated_function_called_from_many_threads_at_once() -> None:
    assert _decorated_by_threads(tenant_context(A)) == [(A, False)] * 16
    assert _decorated_by_threads(unscoped()) == [(None, True)] * 16
    assert get_current_organization_id() is None


def test_a_decorated_coroutine_runs_inside_the_organization() -> None:
    @tenant_context(A)
    async def work(nested: uuid.UUID) -> list[uuid.UUID | None]:
        seen = [get_current_organization_id()]
        with tenant_context(nested):
            await asyncio.sleep(0)
            seen.append(get_current_organization_id())
        await asyncio.sleep(0)
        return [*seen, get_current_organization_id()]

    @unscoped()
    async def everywhere() -> bool:
        await asyncio.sleep(0)
        return is_unscoped()

    async def main() -> tuple[list[list[uuid.UUID | None]], list[bool]]:
        nested = [uuid.uuid4() for _ in range(20)]
        runs = await asyncio.gather(*(work(org) for org in nested))
        assert runs == [[A, org, A] for org in nested]
        return runs, await asyncio.gather(*(everywhere() for _ in range(5)))

    assert asyncio.iscoroutinefunction(work)
    _, flags = asyncio.run(main())
    assert flags == [True] * 5
    assert get_current_organization_id() is None and not is_unscoped()

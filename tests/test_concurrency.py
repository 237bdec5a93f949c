"""Concurrent requests for different organizations never see each other's rows or context."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client
from django.urls import include, path

from crm.models import Customer, Organization
from tenancy.context import get_current_organization_id, tenant_context
from tests.factories import CustomerFactory
from tests.test_api import client_for, staff


async def whoami(request: HttpRequest) -> JsonResponse:
    """An async view: the organization it runs as, and the customers it can see."""
    before = get_current_organization_id()
    await asyncio.sleep(0.001)  # let other requests interleave
    names = await sync_to_async(lambda: sorted(Customer.objects.values_list("name", flat=True)))()
    return JsonResponse({"org": str(before), "after": str(get_current_organization_id()),
                         "names": names})


urlpatterns = [path("whoami", whoami), path("", include("crm.urls"))]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tenants(org_a: Organization, org_b: Organization) -> dict[str, dict[str, object]]:
    """Per organization: a signed-in session, an API token client, and its customers' names."""
    result = {}
    for org in (org_a, org_b):
        with tenant_context(org):
            names = sorted(CustomerFactory(name=f"{org.code}-{i}").name for i in range(3))
        user = staff(org)
        session = Client()
        session.force_login(user)
        result[org.code] = {"org": org, "session": session, "api": client_for(user),
                            "names": names, "cookies": session.cookies}
    return result


def test_threads_never_see_another_organization(tenants) -> None:
    def request(code: str) -> tuple[str, list[str]]:
        try:
            body = tenants[code]["api"].get("/api/v1/customers/").json()
            return code, sorted(row["name"] for row in body["results"])
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(request, ["org-a", "org-b"] * 40))
    assert len(results) == 80
    for code, names in results:
        assert names == tenants[code]["names"]
    assert get_current_organization_id() is None


def test_asyncio_tasks_never_see_another_organization(tenants) -> None:
    async def request(code: str) -> tuple[str, dict[str, object]]:
        client = AsyncClient()
        client.cookies = tenants[code]["cookies"]
        response = await client.get("/whoami")
        return code, json.loads(response.content)

    async def main() -> list[tuple[str, dict[str, object]]]:
        try:
            return await asyncio.gather(*(request(code) for code in ["org-a", "org-b"] * 25))
        finally:
            await sync_to_async(connections.close_all)()  # the executor thread's connection

    for code, body in asyncio.run(main()):
        org = tenants[code]["org"]
        assert body == {"org": str(org.pk), "after": str(org.pk), "names": tenants[code]["names"]}
    assert get_current_organization_id() is None


def test_sync_views_under_asgi(tenants) -> None:
    async def request(code: str) -> tuple[str, list[str]]:
        client = AsyncClient()
        client.cookies = tenants[code]["cookies"]
        body = json.loads((await client.get("/api/v1/customers/")).content)
        return code, sorted(row["name"] for row in body["results"])

    async def main() -> list[tuple[str, list[str]]]:
        try:
            return await asyncio.gather(*(request(code) for code in ["org-a", "org-b"] * 15))
        finally:
            await sync_to_async(connections.close_all)()  # the executor thread's connection

    for code, names in asyncio.run(main()):
        assert names == tenants[code]["names"]


def test_the_organization_is_reset_when_the_view_raises(tenants) -> None:
    session = tenants["org-a"]["session"]
    session.raise_request_exception = False
    response = session.get("/api/v1/customers/not-a-uuid/")
    assert response.status_code == 404
    assert get_current_organization_id() is None

"""Fuzz: hostile input to every JSON endpoint of the API and every form, as organization A's
ORG_ADMIN, answers no 5xx and leaves organization B's rows as they were.

Endpoints come from the OpenAPI schema (drf-spectacular), forms from the admin site's registry
and the inbox's routes: a new endpoint or model admin joins the walk by itself. The values are
an explicit list, so every run sends the same requests.
"""
from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models, transaction
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from bench.fake_graph import FakeGraph
from crm.api.resources import RESOURCES
from crm.models import (
    AuditEvent,
    ContactImport,
    Customer,
    Invitation,
    Organization,
    OrganizationExport,
    Role,
    User,
)
from tenancy.context import tenant_context, unscoped
from tenancy.guards import is_tenant_model
from tests.test_admin_support import (
    World,
    admin_url,
    build_world,
    make_staff,
    registered,
    signed_in,
)
from tests.factories import CampaignFactory, TemplateFactory
from tests.test_api import client_for

LONG = "x" * 100_000
# What an attacker types where a value belongs: wrong types, nesting, sizes, characters
# PostgreSQL refuses (NUL, a lone surrogate), line breaks, path segments, extreme numbers.
JSON_VALUES: list[Any] = [
    None, 10**30, LONG, "\ud800", "a\x00b", "a\r\nb", "..", {"a": {"b": [1, {"c": None}]}},
    [1, "x", None],
]
# What each text, number or JSON field of an otherwise empty PATCH gets: values that pass the
# field's type and so reach the database.
FIELD_VALUES: list[Any] = ["\ud800", "a\x00b", LONG, 10**30]
# Bodies that are not what the endpoint reads: (content type, bytes).
RAW_BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"{"),
    ("application/json", b"\xff\xfe{}"),
    ("application/json", b'"text"'),
    ("application/json", b'{"x": 1e400}'),
    ("application/json", b"[" * 100_000 + b"]" * 100_000),
    ("text/plain", b"a=1"),
    ("application/x-www-form-urlencoded", b"a=%00&b=%ff"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
]
# Query string values, percent-encoded as they travel (a lone surrogate's UTF-8 bytes too).
QUERY_VALUES = ["a%00b", "99999999999999999999", "%ED%A0%80"]
# Form values: every field of a form is text, so wrong types arrive as text too.
FORM_VALUES = [
    "", "a\x00b", LONG, "99999999999999999999", "..", "a\r\nb", '{"a": {"b": [1]}}',
    '"\\ud800"',
]
# JSON texts a JSON form field (a textarea) may receive, each alone in an otherwise valid form.
JSON_TEXTS = ['"\\ud800"', '{"k": "\\u0000"}', '{"\\ud800": 1}', "1e400", "[" * 5000]


@dataclass
class Failures:
    """Every 5xx (or exception) seen, so one run reports all of them."""

    seen: list[str] = field(default_factory=list)

    def call(self, label: str, send: Callable[[], Any]) -> Any:
        """Send one request in a savepoint (a failed statement must not abort the test's
        transaction); record it when it fails."""
        try:
            with transaction.atomic():
                response = send()
        except Exception as error:  # noqa: BLE001  (any escape is a 500 to the client)
            frames = traceback.extract_tb(error.__traceback__)
            ours = [f for f in frames if "site-packages" not in f.filename] or frames
            self.seen.append(f"{label[:120]}: {type(error).__name__}: {str(error)[:160]} "
                             f"({ours[-1].filename.rpartition('/')[2]}:{ours[-1].lineno}, "
                             f"{frames[-1].filename.rpartition('/')[2]}:{frames[-1].lineno})")
            return None
        if response.status_code >= 500:
            self.seen.append(f"{label}: HTTP {response.status_code} "
                             f"{response.content[:160]!r}")
        return response


def _json(body: Any) -> bytes:
    """JSON as a client sends it (a lone surrogate as its escape, like any JSON encoder)."""
    return json.dumps(body).encode()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else f"{text[:30]}...({len(text)})"


def _rows_of(model: type[models.Model], org: Organization) -> models.QuerySet:
    """`org`'s rows of `model`: its tenant rows, its own organization row, or every shared row."""
    if is_tenant_model(model):
        return model._base_manager.filter(organization=org)
    if model is Organization:  # the caller's ORG_ADMIN may change its own organization
        return model._base_manager.filter(pk=org.pk)
    return model._base_manager.all()


def _snapshot(org: Organization) -> dict[str, list[str]]:
    """Every tenant row of `org`, its organization row and every shared row, as text."""
    # Reads organization B's rows (and the shared ones) to compare them after the run.
    with unscoped():
        return {
            model._meta.label: sorted(
                json.dumps(row, default=str, sort_keys=True)
                for row in _rows_of(model, org).values()
            )
            for model, _admin in registered()
        }


# --- the API ---------------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rpartition("/")[2]]
    return node


def _body_fields(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, str]:
    """The request body's fields and their kind: "json" (any JSON), "plain" (a text, number
    or flag: what such a field stores is what was sent) or "typed" (ids, times, choices)."""
    content = operation.get("requestBody", {}).get("content", {})
    body = _resolve(schema, next(iter(content.values()), {}).get("schema")) or {}
    kinds = {}
    for name, spec in sorted(body.get("properties", {}).items()):
        spec = _resolve(schema, spec)
        if spec.get("readOnly"):
            continue
        if "type" not in spec and not ({"enum", "allOf", "oneOf", "anyOf"} & set(spec)):
            kinds[name] = "json"
        elif spec.get("format") in (None, "double") and "enum" not in spec:
            kinds[name] = "plain"
        else:
            kinds[name] = "typed"
    return kinds


# Endpoints outside RESOURCES, by their first path segment.
OTHER_PREFIXES: dict[str, type[models.Model]] = {
    "conversations": Customer, "exports": Customer, "contacts": ContactImport, "team": User,
    "invitations": Invitation, "audit-events": AuditEvent, "platform": Organization,
    "organization": OrganizationExport}


def _model_of(path: str) -> type[models.Model]:
    prefix = path.removeprefix("/api/v1/").split("/")[0]
    if prefix in OTHER_PREFIXES:
        return OTHER_PREFIXES[prefix]
    return next(r.model for r in RESOURCES if r.prefix == prefix)


def _key_of(row: models.Model) -> str:
    return ":".join(map(str, row.pk)) if isinstance(row.pk, tuple) else str(row.pk)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with `{...}` filled with a row of organization A
    fields: dict[str, str]  # name: kind (see _body_fields)
    query: list[str]


def _operations(world: World, caller: User) -> list[Operation]:
    schema = _schema()
    found = []
    for template, methods in schema["paths"].items():
        if template.endswith("/events/") or "/schema/" in template:
            continue  # an endless stream; the schema itself
        for method, operation in methods.items():
            path = template
            if "{" in template:
                rows = [r for r in world.of(world.a, _model_of(template)) if r.pk != caller.pk]
                if not rows:
                    # The shared catalog; the platform's organizations (A's own id).
                    rows = world.rows.get((None, _model_of(template))) or [world.a]
                path = re.sub(r"\{[^}]+\}", _key_of(rows[0]), template)
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            found.append(Operation(method.upper(), path, _body_fields(schema, operation), query))
    # Deletes last: the rows they remove are the ones the other requests work on.
    return sorted(found, key=lambda o: o.method == "DELETE")


def _api_requests(operation: Operation) -> Iterator[tuple[str, Callable[[APIClient], Any]]]:
    method, path = operation.method.lower(), operation.path
    if method == "get":
        for name in operation.query:
            for value in QUERY_VALUES:
                yield (f"GET {path}?{name}={_short(value)}",
                       lambda c, query=f"{name}={value}": c.get(f"{path}?{query}"))
        yield f"GET {path}", lambda c: c.get(path)
        return
    if operation.path.startswith("/api/v1/media/"):
        for value in FORM_VALUES[:6]:
            upload = {"file": SimpleUploadedFile("a.txt", b"hi", "text/plain"),
                      "mime_type": value, "from_number": value}
            yield (f"POST {path} {_short(value)}",
                   lambda c, upload=upload: c.post(path, upload, format="multipart"))
        return
    if method == "put":
        return  # the serializer of PATCH and POST, on the same row
    for value in JSON_VALUES:
        body = {name: value for name in operation.fields} or {"x": value}
        yield (f"{method.upper()} {path} all={_short(value)}",
               lambda c, body=body: getattr(c, method)(path, _json(body),
                                                       content_type="application/json"))
    for name, kind in operation.fields.items() if method == "patch" else ():
        for value in FIELD_VALUES if kind != "typed" else ():
            yield (f"PATCH {path} {name}={_short(value)}",
                   lambda c, body={name: value}: c.patch(path, _json(body),
                                                         content_type="application/json"))
        for text in JSON_TEXTS if kind == "json" else ():
            yield (f"PATCH {path} form {name}={_short(text)}",
                   lambda c, body={name: text}: c.patch(path, body, format="multipart"))
    for content_type, raw in RAW_BODIES:
        yield (f"{method.upper()} {path} raw {content_type} {_short(raw)}",
               lambda c, content_type=content_type, raw=raw: getattr(c, method)(
                   path, raw, content_type=content_type))


@pytest.mark.django_db
def test_no_api_endpoint_answers_5xx(org_a: Organization, org_b: Organization,
                                     fake_graph: FakeGraph) -> None:
    world = build_world(org_a, org_b)
    caller = make_staff(org_a, Role.ORG_ADMIN)
    client = client_for(caller)
    client.raise_request_exception = True
    before = _snapshot(org_b)
    failures = Failures()
    for operation in _operations(world, caller):
        for label, send in _api_requests(operation):
            failures.call(label, lambda send=send: send(client))
    assert not failures.seen, "\n".join(failures.seen)
    assert _snapshot(org_b) == before


# --- forms -----------------------------------------------------------------------------------


class _FormFields(HTMLParser):
    """The fields a browser would post from the page's form `form_id`, with their values."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value", "")
        if not self.inside or not a.get("name"):
            return
        name = a["name"]
        if "__prefix__" in name:
            return  # the template of a new inline row, not a field
        if tag == "input" and a.get("type") not in ("submit", "button", "file"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields[name] = a.get("value", "on" if kind in ("checkbox", "radio") else "")
            self.kinds[name] = kind
        elif tag == "textarea":
            self._textarea, self.fields[name], self.kinds[name] = name, "", "textarea"
        elif tag == "select":
            self._select, self.kinds[name] = name, "select"
            self.fields.setdefault(name, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        self._textarea = None if tag == "textarea" else self._textarea
        self._select = None if tag == "select" else self._select

    def handle_data(self, data: str) -> None:
        if self._textarea:  # a browser drops the newline that starts a textarea's text
            text = self.fields[self._textarea] + data
            self.fields[self._textarea] = text.removeprefix("\n")


MANAGEMENT = re.compile(r"-(TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS$|^csrfmiddlewaretoken$")
# Posted where a hidden key belongs (an inline row's key): JSON of the wrong shape, and more.
KEY_VALUES = ['["x", "y"]', "{", "[]", "-1"]


def _form(client: Client, url: str, form_id: str) -> dict[str, tuple[str, str]] | None:
    """name: (value, kind) of the form on the page at `url`; None when there is none."""
    page = client.get(url)
    if page.status_code != 200:
        return None
    parser = _FormFields(form_id)
    parser.feed(page.content.decode())
    if not parser.fields:
        return None
    return {name: (value, parser.kinds[name]) for name, value in parser.fields.items()}


def _form_requests(url: str, form: dict[str, tuple[str, str]]
                   ) -> Iterator[tuple[str, dict[str, str]]]:
    """(label, posted data): every field at once with each value, then one field at a time."""
    base = {name: value for name, (value, _kind) in form.items()}
    for value in FORM_VALUES:
        data = {name: (old if MANAGEMENT.search(name) else value) for name, old in base.items()}
        yield f"POST {url} all={_short(value)}", data
    for name, (_value, kind) in form.items():
        if MANAGEMENT.search(name):
            continue
        values = {"textarea": JSON_TEXTS, "hidden": KEY_VALUES,
                  "number": ["99999999999999999999", "1e400"]}.get(kind, [])
        for value in values:
            yield f"POST {url} {name}={_short(value)}", {**base, name: value}


@pytest.mark.django_db
def test_no_form_answers_5xx(org_a: Organization, org_b: Organization,
                             fake_graph: FakeGraph) -> None:
    world = build_world(org_a, org_b)
    caller = make_staff(org_a, Role.ORG_ADMIN)
    client = signed_in(caller)
    client.raise_request_exception = True
    before = _snapshot(org_b)
    failures = Failures()
    for model, _model_admin in registered():
        form_id = f"{model._meta.model_name}_form"
        rows = [r for r in world.of(world.a, model) if r.pk != caller.pk] or world.rows.get(
            (None, model), [])
        # The add form, and the change form of the row with the most inline rows.
        pages = [(url, _form(client, url, form_id)) for url in
                 [admin_url(model, "add"), *(admin_url(model, "change", row) for row in rows)]]
        pages = pages[:1] + sorted(pages[1:], key=lambda page: -len(page[1] or {}))[:1]
        for url, form in pages:
            for label, data in _form_requests(url, form or {}):
                failures.call(label, lambda url=url, data=data: client.post(url, data))
        for value in QUERY_VALUES:
            url = f"{admin_url(model)}?q={value}"
            failures.call(f"GET {url[:80]}", lambda url=url: client.get(url))
    assert not failures.seen, "\n".join(failures.seen)
    assert _snapshot(org_b) == before


def _inbox_requests(base: str) -> Iterator[tuple[str, Callable[[Client], Any]]]:
    """Every inbox form and filter of one conversation, each field with each hostile value."""
    for value in FORM_VALUES:
        for path, data in (("reply/", {"text": value}),
                           ("reply/", {"template": value, "parameters": [value, value]}),
                           ("reply/", {"text": value, "file": SimpleUploadedFile(
                               "a.pdf", b"%PDF-1.4", "application/pdf")}),
                           ("assign/", {"agent": value}), ("read/", {"x": value}),
                           ("automation/", {"hours": value}), ("labels/", {"add": value}),
                           ("labels/", {"remove": value}), ("notes/", {"body": value}),
                           ("attributes/", {"attr.tier": value, f"attr.{value}": value}),
                           ("status/", {"status": value}),
                           ("status/", {"status": "snoozed", "snooze_hours": value})):
            yield (f"POST {base}{path} {sorted(data)}={_short(value)}",
                   lambda c, path=path, data=data: c.post(f"{base}{path}", data))
    for value in QUERY_VALUES:
        for query in ("mine", "unassigned", "waiting", "number", "q", "cursor", "label",
                      "match", "status", "mentions"):
            for path in ("/inbox/", "/inbox/list/", base):
                url = f"{path}?{query}={value}"
                yield f"GET {url[:100]}", lambda c, url=url: c.get(url)
        url = f"{base}template-fields/?template={value}"
        yield f"GET {url[:100]}", lambda c, url=url: c.get(url)
    for path in ("thread/", "composer/"):
        yield f"GET {base}{path}", lambda c, path=path: c.get(f"{base}{path}")


@pytest.mark.django_db
def test_no_inbox_form_answers_5xx(org_a: Organization, org_b: Organization,
                                   fake_graph: FakeGraph) -> None:
    world = build_world(org_a, org_b)
    with tenant_context(org_a):  # a conversation whose window is open: text replies are sent
        customer = Customer.objects.filter(pk__in=[c.pk for c in world.of(org_a, Customer)])
        customer.update(last_inbound_at=timezone.now())
        target = customer.first()
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    client.raise_request_exception = True
    before = _snapshot(org_b)
    failures = Failures()
    for label, send in _inbox_requests(f"/inbox/{target.pk}/"):
        failures.call(label, lambda send=send: send(client))
    assert not failures.seen, "\n".join(failures.seen)
    assert _snapshot(org_b) == before


def _campaign_page_requests(template: Any, campaign: Any
                            ) -> Iterator[tuple[str, Callable[[Client], Any]]]:
    """Every campaigns page form and query (crm.campaigns.pages), each field hostile in turn."""
    fields = ["name", "template", "segment", "label", "param_body_1", "text_param_body_1"]
    valid = {"name": "Fuzz", "template": str(template.pk), "param_body_1": "text",
             "text_param_body_1": "x"}
    for value in FORM_VALUES:
        for name in fields:
            data = {**valid, name: value}
            yield (f"POST /campaigns/new/ {name}={_short(value)}",
                   lambda c, data=data: c.post("/campaigns/new/", data))
        for data in ({"when": value}, {"when": "later", "scheduled_at": value}):
            yield (f"POST send {sorted(data)}={_short(value)}",
                   lambda c, data=data: c.post(f"/campaigns/{campaign.pk}/send/", data))
    for value in QUERY_VALUES:
        url = f"/campaigns/preview/?template={value}"
        yield f"GET {url}", lambda c, url=url: c.get(url)
    for path in ("", "progress/"):
        yield f"GET {path}", lambda c, path=path: c.get(f"/campaigns/{campaign.pk}/{path}")
    for action in ("stop", "resume", "other"):
        yield f"POST {action}", lambda c, a=action: c.post(f"/campaigns/{campaign.pk}/{a}/")


@pytest.mark.django_db
def test_no_campaign_page_answers_5xx(org_a: Organization, org_b: Organization,
                                      fake_graph: FakeGraph) -> None:
    build_world(org_a, org_b)
    with tenant_context(org_a):
        template = TemplateFactory(template_body={"components": [
            {"type": "BODY", "text": "Hello {{1}}"}]})
        campaign = CampaignFactory()
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    client.raise_request_exception = True
    before = _snapshot(org_b)
    failures = Failures()
    for label, send in _campaign_page_requests(template, campaign):
        failures.call(label, lambda send=send: send(client))
    assert not failures.seen, "\n".join(failures.seen)
    assert _snapshot(org_b) == before

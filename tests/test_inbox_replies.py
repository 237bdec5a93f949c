"""Replying from the inbox's composer: text in the window, templates outside it, files."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.inbox import replies
from crm.models import Customer, Message, Organization, Role, WhatsAppNumber
from tenancy.context import tenant_context, unscoped
from tests.factories import MessageFactory, TemplateFactory, WhatsAppNumberFactory
from tests.inbox_support import conversation
from tests.test_admin_support import make_staff, signed_in

BODY = {"language": "en_US", "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}}"}]}


@pytest.fixture
def number_a(org_a: Organization) -> WhatsAppNumber:
    with tenant_context(org_a):
        return WhatsAppNumberFactory(display_number="+91 80000 00000")


@pytest.fixture
def recent(org_a: Organization, number_a: WhatsAppNumber) -> Customer:
    """A customer of A who wrote ten minutes ago: the window is open."""
    return conversation(org_a, "Asha", at=timezone.now() - timedelta(minutes=10))


@pytest.fixture
def agent(org_a: Organization) -> Client:
    """An agent of A whose requests are htmx's, as the composer sends them."""
    client = signed_in(make_staff(org_a, Role.AGENT))
    client.defaults["HTTP_HX_REQUEST"] = "true"
    return client


def sent(org: Organization, customer: Customer) -> list[Message]:
    with tenant_context(org):
        return list(Message.objects.filter(customer=customer, sender_type="agent"))


def test_text_reply_in_the_window(fake_graph: FakeGraph, recent: Customer, agent: Client,
                                  org_a: Organization) -> None:
    page = agent.get(f"/inbox/{recent.pk}/").content.decode()
    assert "Free-form replies for another" in page and "23 h 4" in page
    response = agent.post(f"/inbox/{recent.pk}/reply/", {"text": "On its way"})
    assert response.status_code == 200 and "On its way" in response.content.decode()
    [message] = sent(org_a, recent)
    assert message.message_id.startswith("wamid.FAKE") and message.delivery_status == "sent"
    assert fake_graph.sent()[0].body["text"]["body"] == "On its way"


def test_outside_the_window_text_is_refused_and_templates_offered(
    fake_graph: FakeGraph, org_a: Organization, number_a: WhatsAppNumber, agent: Client
) -> None:
    old = conversation(org_a, "Ravi", at=timezone.now() - timedelta(days=2))
    with tenant_context(org_a):
        TemplateFactory(template_name="order_update", template_body=BODY)
    page = agent.get(f"/inbox/{old.pk}/").content.decode()
    assert "window is closed" in page and "order_update" in page
    refused = agent.post(f"/inbox/{old.pk}/reply/", {"text": "Hello?"})
    assert refused.status_code == 409 and b"24-hour" in refused.content
    fields = agent.get(f"/inbox/{old.pk}/template-fields/", {"template": "order_update:en_US"})
    assert fields.content.decode().count('name="parameters"') == 2
    assert 'name="fields_for" value="order_update:en_US"' in fields.content.decode()
    response = agent.post(f"/inbox/{old.pk}/reply/", {
        "template": "order_update:en_US", "parameters": ["Ravi", "A-17"],
        "fields_for": "order_update:en_US"})
    assert response.status_code == 200
    template = fake_graph.sent()[0].body["template"]
    assert template["name"] == "order_update"
    assert [p["text"] for p in template["components"][0]["parameters"]] == ["Ravi", "A-17"]


def test_a_closed_composer_turns_to_free_text_once_the_customer_writes(
    org_a: Organization, number_a: WhatsAppNumber, agent: Client
) -> None:
    old = conversation(org_a, "Ravi", at=timezone.now() - timedelta(days=2))
    closed = agent.get(f"/inbox/{old.pk}/composer/").content.decode()
    assert "window is closed" in closed
    assert 'id="composer-live"' in closed and f"'{old.pk}'" in closed  # listens for Ravi only
    with tenant_context(org_a):  # Ravi writes again
        MessageFactory(customer=old, sender_type="customer", timestamp=timezone.now())
        Customer.objects.filter(pk=old.pk).update(last_inbound_at=timezone.now())
    opened = agent.get(f"/inbox/{old.pk}/composer/").content.decode()
    assert 'name="text"' in opened and "composer-live" not in opened


def test_template_needs_each_parameter(fake_graph: FakeGraph, recent: Customer, agent: Client,
                                       org_a: Organization) -> None:
    with tenant_context(org_a):
        TemplateFactory(template_name="order_update", template_body=BODY)
    response = agent.post(f"/inbox/{recent.pk}/reply/", {
        "template": "order_update:en_US", "parameters": ["Ravi"],
        "fields_for": "order_update:en_US"})
    assert response.status_code == 400 and b"2 parameter(s)" in response.content
    unknown = agent.post(f"/inbox/{recent.pk}/reply/", {"template": "nope:en_US"})
    assert unknown.status_code == 400 and fake_graph.sent() == []


def test_unapproved_and_other_organizations_templates_are_not_offered(
    org_a: Organization, org_b: Organization
) -> None:
    with tenant_context(org_b):
        TemplateFactory(template_name="b_only", template_body=BODY)
    with tenant_context(org_a):
        TemplateFactory(template_name="draft", template_body={**BODY, "status": "REJECTED"})
        TemplateFactory(template_name="mine", template_body=BODY)
    with unscoped():  # shared templates are platform data
        TemplateFactory(template_name="shared", template_body=BODY, organization=None)
    with tenant_context(org_a):
        names = [t.name for t in replies.approved_templates()]
    assert names == ["mine", "shared"]


def test_file_is_uploaded_then_sent_as_media(fake_graph: FakeGraph, recent: Customer,
                                             agent: Client, org_a: Organization) -> None:
    fake_graph.route("POST", r"/v[\d.]+/(?P<number>[^/]+)/media",
                     lambda fake, call, match: (200, {"id": "MEDIA-77"}))
    upload = SimpleUploadedFile("menu.pdf", b"%PDF-1.4 menu", content_type="application/pdf")
    response = agent.post(f"/inbox/{recent.pk}/reply/", {"file": upload, "text": "Our menu"})
    assert response.status_code == 200
    body = fake_graph.sent()[0].body
    assert body["type"] == "document"
    assert body["document"] == {"id": "MEDIA-77", "caption": "Our menu", "filename": "menu.pdf"}
    [message] = sent(org_a, recent)
    assert message.media_id == "MEDIA-77"


def test_replying_to_another_organizations_customer_is_404(
    fake_graph: FakeGraph, org_b: Organization, agent: Client
) -> None:
    theirs = conversation(org_b, "Bala", at=timezone.now())
    assert agent.post(f"/inbox/{theirs.pk}/reply/", {"text": "hi"}).status_code == 404
    assert fake_graph.sent() == []


def test_a_template_is_sent_only_with_the_fields_shown_for_it(
    fake_graph: FakeGraph, recent: Customer, agent: Client, org_a: Organization
) -> None:
    """The agent filled in order_update's fields, then chose promo (same number of fields)."""
    with tenant_context(org_a):
        TemplateFactory(template_name="order_update", template_body=BODY)
        TemplateFactory(template_name="promo", template_body={
            **BODY, "components": [{"type": "BODY", "text": "{{1}}: {{2}} off today"}]})
    for fields_for in ("order_update:en_US", ""):
        response = agent.post(f"/inbox/{recent.pk}/reply/", {
            "template": "promo:en_US", "parameters": ["Ravi", "A-17"], "fields_for": fields_for})
        assert response.status_code == 400
        assert b"not those of promo" in response.content
    assert fake_graph.sent() == [] and sent(org_a, recent) == []


def test_the_composer_posts_even_without_javascript(
    fake_graph: FakeGraph, recent: Customer, org_a: Organization
) -> None:
    """Without htmx the form itself is used: a POST with the CSRF token, then the page again."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_staff(org_a, Role.AGENT))
    page = client.get(f"/inbox/{recent.pk}/").content.decode()
    form = page[page.index('<form id="composer"'):]
    form = form[:form.index("</form>")]
    assert 'method="post"' in form and f'action="/inbox/{recent.pk}/reply/"' in form
    assert 'enctype="multipart/form-data"' in form
    token = form.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(f"/inbox/{recent.pk}/reply/",
                           {"text": "Sent without a script", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == f"/inbox/{recent.pk}/"
    assert [m.body for m in sent(org_a, recent)] == ["Sent without a script"]


@pytest.mark.parametrize("text, said", [
    ("x" * 4097, "text: WhatsApp takes at most 4,096 characters in a message (4,097 typed)"),
    ("a\x00b", "text: holds a NUL character"),
], ids=["over-4096", "nul"])
def test_a_reply_whatsapp_or_the_database_would_refuse_is_400_naming_text(
    fake_graph: FakeGraph, recent: Customer, agent: Client, org_a: Organization, text: str,
    said: str,
) -> None:
    response = agent.post(f"/inbox/{recent.pk}/reply/", {"text": text})
    assert response.status_code == 400
    assert response.content.decode().startswith(said)
    assert sent(org_a, recent) == [] and fake_graph.sent() == []


def test_a_file_caption_over_whatsapps_limit_is_400_naming_text(
    fake_graph: FakeGraph, recent: Customer, agent: Client, org_a: Organization
) -> None:
    upload = SimpleUploadedFile("menu.pdf", b"%PDF-1.4 menu", content_type="application/pdf")
    response = agent.post(f"/inbox/{recent.pk}/reply/", {"file": upload, "text": "c" * 1025})
    assert response.status_code == 400
    assert response.content.decode().startswith("text: String should have at most 1024")
    assert sent(org_a, recent) == [] and fake_graph.sent() == []

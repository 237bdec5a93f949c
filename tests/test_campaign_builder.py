"""The campaigns page: an ORG_ADMIN builds a template campaign (parameters mapped to fields,
attributes and fixed texts; a segment, label or file as audience), sees the estimate, sends or
schedules it and watches its progress; bad input is a form error naming the field and saves
nothing; agents read only; another organization's ids are 404 (the Python scope off too)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from bench.fake_graph import FakeGraph
from crm.models import Campaign, Job, JobStatus, Organization, Role, WhatsAppNumber
from tenancy.context import tenant_context
from tests.factories import (
    AttributeDefinitionFactory,
    CampaignFactory,
    CostFactory,
    CustomerFactory,
    CustomerLabelFactory,
    JobFactory,
    JobStatusFactory,
    LabelFactory,
    SegmentFactory,
    TemplateFactory,
    WhatsAppNumberFactory,
)
from tests.test_admin_support import make_staff, signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "redis_keys")]

COMPONENTS = [
    {"type": "HEADER", "format": "TEXT", "text": "Hi {{1}}"},
    {"type": "BODY", "text": "Dear {{1}}, our {{2}} store has {{3}}."},
    {"type": "FOOTER", "text": "Reply STOP to opt out"},
    {"type": "BUTTONS",
     "buttons": [{"type": "URL", "text": "Shop", "url": "https://x.test/{{1}}"}]},
]


def _world(org: Organization) -> dict[str, Any]:
    """An approved template, a vip label and segment of three customers (one opted out)."""
    with tenant_context(org):
        template = TemplateFactory(template_name="offer", language="en", status="APPROVED",
                                   category="MARKETING",
                                   template_body={"components": COMPONENTS})
        AttributeDefinitionFactory(key="city", label="City")
        label = LabelFactory(name="vip")
        people = [CustomerFactory(name=f"Asha {i}", attributes={"city": "Pune"}) for i in range(3)]
        people[2].marketing_opt_out_at = timezone.now()
        people[2].save(update_fields=["marketing_opt_out_at"])
        for customer in people:
            CustomerLabelFactory(customer=customer, label=label)
        segment = SegmentFactory(name="VIPs", filters={"labels": ["vip"]})
        WhatsAppNumberFactory()
    CostFactory(type="template", price=0.8)
    return {"template": template, "label": label, "segment": segment, "people": people}


def _form(world: dict[str, Any], **changes: Any) -> dict[str, Any]:
    form = {"name": "Diwali", "template": str(world["template"].pk),
            "segment": str(world["segment"].pk),
            "param_header_1": "name", "param_body_1": "name", "param_body_2": "attribute.city",
            "param_body_3": "text", "text_param_body_3": "20% off",
            "param_button0_1": "phone"}
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def test_an_org_admin_builds_sends_and_watches_a_campaign(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any
) -> None:
    world = _world(org_a)
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    assert "offer (en)" in client.get("/campaigns/").content.decode()
    preview = client.get("/campaigns/preview/", {"template": str(world["template"].pk)})
    text = preview.content.decode()
    assert preview.status_code == 200 and "Reply STOP to opt out" in text
    assert 'name="param_body_3"' in text and 'value="attribute.city"' in text
    built = client.post("/campaigns/new/", _form(world))
    assert built.status_code == 302, built.content.decode()
    with tenant_context(org_a):
        campaign = Campaign.objects.get()
        assert "{" not in campaign.name and campaign.type == Campaign.Type.TEMPLATE
    page = client.get(built["Location"]).content.decode()
    assert '<span class="to-send">2</span>' in page and '<span class="skipped">1</span>' in page
    assert "Estimated cost: 1.6" in page
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(f"/campaigns/{campaign.pk}/send/", {"when": "now"})
    assert sent.status_code == 302
    bodies = [call.body for call in fake_graph.sent() if call.status == 200]
    assert sorted(body["to"] for body in bodies) == sorted(p.wa_id for p in world["people"][:2])
    body = bodies[0]["template"]["components"]
    assert body[1]["parameters"][1:] == [{"type": "text", "text": "Pune"},
                                         {"type": "text", "text": "20% off"}]
    assert body[2]["parameters"][0]["text"] == bodies[0]["to"]
    fragment = client.get(f"/campaigns/{campaign.pk}/progress/").content.decode()
    assert 'data-state="completed"' in fragment and '<span class="sent">2</span>' in fragment
    assert "hx-get" not in fragment  # polling ends with the run
    assert f"/reports/campaigns/{campaign.pk}/" in client.get(built["Location"]).content.decode()
    assert client.get(f"/reports/campaigns/{campaign.pk}/").status_code == 200


def test_a_label_or_a_file_is_an_audience_and_a_schedule_waits(org_a: Organization) -> None:
    world = _world(org_a)
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    by_label = client.post("/campaigns/new/", _form(world, segment="",
                                                    label=str(world["label"].pk)))
    assert by_label.status_code == 302
    upload = SimpleUploadedFile("list.csv", b"Phone,Name\n9876543210,Ravi\n")
    by_file = client.post("/campaigns/new/", {**_form(world, segment="", name="File"),
                                              "file": upload})
    assert by_file.status_code == 302, by_file.content.decode()
    assert '<span class="to-send">1</span>' in client.get(by_file["Location"]).content.decode()
    with tenant_context(org_a):
        campaign = Campaign.objects.get(name="Diwali")
    past = client.post(f"/campaigns/{campaign.pk}/send/", {"when": "later",
                                                           "scheduled_at": "2020-01-01T09:00"})
    assert past.status_code == 400 and b'data-field="scheduled_at"' in past.content
    later = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(f"/campaigns/{campaign.pk}/send/", {
        "when": "later", "scheduled_at": later}).status_code == 302
    with tenant_context(org_a):
        campaign.refresh_from_db()
        assert campaign.status == "scheduled" and campaign.scheduled_at > timezone.now()
        assert not campaign.jobs.exists()


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": ""}, "name"),
    ({"template": ""}, "template"),
    ({"param_body_2": "attribute.unknown"}, "param_body_2"),
    ({"text_param_body_3": " "}, "text_param_body_3"),
    ({"text_param_body_3": "a\nb"}, "text_param_body_3"),
    ({"segment": ""}, "audience"),
])
def test_bad_input_is_a_form_error_naming_the_field_and_saves_nothing(
    org_a: Organization, changes: dict[str, Any], field: str
) -> None:
    world = _world(org_a)
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    answer = client.post("/campaigns/new/", _form(world, **changes))
    assert answer.status_code == 400
    assert f'data-field="{field}"'.encode() in answer.content, answer.content.decode()
    if field == "name":  # the form comes back as it was sent
        assert b'<option value="attribute.city" selected>' in answer.content
    with tenant_context(org_a):
        assert not Campaign.objects.exists()


def test_a_customer_without_the_mapped_attribute_is_not_sent_a_hole(
    org_a: Organization, fake_graph: FakeGraph, django_capture_on_commit_callbacks: Any
) -> None:
    world = _world(org_a)
    with tenant_context(org_a):
        world["people"][1].attributes = {}
        world["people"][1].save(update_fields=["attributes"])
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    built = client.post("/campaigns/new/", _form(world))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{built['Location']}send/", {"when": "now"})
    assert [call.body["to"] for call in fake_graph.sent()] == [world["people"][0].wa_id]
    with tenant_context(org_a):
        reasons = set(JobStatus.objects.values_list("reason", flat=True))
    assert any("no 'city' attribute" in (reason or "") for reason in reasons), reasons


def test_progress_polls_while_running_and_stop_then_resume(org_a: Organization) -> None:
    with tenant_context(org_a):
        WhatsAppNumberFactory()
        campaign = CampaignFactory(status="running")
        job = JobFactory(campaign=campaign, state=Job.State.RUNNING)
        JobStatusFactory(job=job, whatsapp_number=WhatsAppNumber.objects.get())
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    fragment = client.get(f"/campaigns/{campaign.pk}/progress/").content.decode()
    assert f'hx-get="/campaigns/{campaign.pk}/progress/"' in fragment and ">Stop<" in fragment
    assert client.post(f"/campaigns/{campaign.pk}/stop/").status_code == 302
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-state="stopped"' in page and ">Resume<" in page and "hx-get" not in page
    assert client.post(f"/campaigns/{campaign.pk}/resume/").status_code == 302
    again = client.post(f"/campaigns/{campaign.pk}/resume/")
    assert again.status_code == 400 and b'data-field="campaign"' in again.content
    with tenant_context(org_a):
        job.refresh_from_db()
        assert job.state == Job.State.RUNNING and job.last_attempted_by is not None


def test_agents_read_but_may_not_write(org_a: Organization) -> None:
    world = _world(org_a)
    with tenant_context(org_a):
        campaign = CampaignFactory(name="Seen by agents")
    agent = signed_in(make_staff(org_a, Role.AGENT))
    page = agent.get("/campaigns/").content.decode()
    assert "Seen by agents" in page and "Only an ORG_ADMIN" in page and 'id="builder"' not in page
    assert agent.get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert agent.get(f"/campaigns/{campaign.pk}/progress/").status_code == 200
    assert agent.post("/campaigns/new/", _form(world)).status_code == 403
    for action in ("send", "stop", "resume"):
        assert agent.post(f"/campaigns/{campaign.pk}/{action}/").status_code == 403
    with tenant_context(org_a):
        assert Campaign.objects.count() == 1


@pytest.mark.usefixtures("python_scope")
def test_another_organizations_ids_are_404_on_every_builder_endpoint(
    org_a: Organization, org_b: Organization
) -> None:
    mine = _world(org_a)
    theirs = _world(org_b)
    with tenant_context(org_b):
        campaign = CampaignFactory(name="Their campaign")
    client = signed_in(make_staff(org_a, Role.ORG_ADMIN))
    assert "Their campaign" not in client.get("/campaigns/").content.decode()
    assert client.get("/campaigns/preview/", {
        "template": str(theirs["template"].pk)}).status_code == 404
    for key in ("template", "segment", "label"):
        form = _form(mine, **{key: str(theirs[key].pk)})
        assert client.post("/campaigns/new/", form).status_code == 404, key
    for url in (f"/campaigns/{campaign.pk}/", f"/campaigns/{campaign.pk}/progress/"):
        assert client.get(url).status_code == 404
    for action in ("send", "stop", "resume"):
        assert client.post(f"/campaigns/{campaign.pk}/{action}/").status_code == 404
    with tenant_context(org_a):
        assert not Campaign.objects.exists()

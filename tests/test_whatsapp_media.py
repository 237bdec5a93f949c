"""Media: an inbound message's file fetched once with the receiving number's token, uploads
checked against WhatsApp's limits, and isolation."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from bench.fake_graph import Binary, FakeGraph
from crm.models import Message, Organization, Role, WhatsAppApiLog, WhatsAppNumber
from tenancy.context import tenant_context
from tests.factories import MessageFactory, WhatsAppNumberFactory
from tests.test_api import client_for, staff

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg bytes" * 10
# An extended WebP header with the animation flag (byte 20, bit 2) set, or not.
ANIMATED_WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02" + b"\x00" * 40
STATIC_WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 40


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path)


@pytest.fixture
def numbers(org_a: Organization) -> list[WhatsAppNumber]:
    """Two numbers of A: the message below came to the second."""
    with tenant_context(org_a):
        return [WhatsAppNumberFactory(display_number="+91 80000 00001", access_token="TOKEN-1"),
                WhatsAppNumberFactory(display_number="+91 80000 00002", access_token="TOKEN-2")]


@pytest.fixture
def image(fake_graph: FakeGraph, org_a: Organization, numbers: list[WhatsAppNumber]) -> Message:
    media_id = fake_graph.add_media(JPEG, "image/jpeg")
    with tenant_context(org_a):
        return MessageFactory(type="image", media_id=media_id, mime_type=None,
                              to_wa_id="918000000002", body=None)


def url(message: Message) -> str:
    return f"/api/v1/messages/{message.pk}/media/"


def test_inbound_media_is_fetched_once_with_the_receiving_numbers_token(
    fake_graph: FakeGraph, org_a: Organization, image: Message
) -> None:
    agent = client_for(staff(org_a, Role.AGENT))
    first = agent.get(url(image))
    assert first.status_code == 200
    assert b"".join(first.streaming_content) == JPEG
    assert first["Content-Type"] == "image/jpeg"
    assert first["Content-Disposition"].startswith("inline")
    assert [(c.method, c.path.rsplit("/", 1)[-1], c.authorization) for c in fake_graph.calls] == [
        ("GET", image.media_id, "Bearer TOKEN-2"), ("GET", image.media_id, "Bearer TOKEN-2")]
    fake_graph.reset()
    second = agent.get(url(image))
    assert b"".join(second.streaming_content) == JPEG
    assert second["Content-Type"] == "image/jpeg"  # Meta's type, kept on the message
    assert fake_graph.calls == []  # stored: Meta is not asked again


def test_media_refusals(fake_graph: FakeGraph, org_a: Organization, image: Message) -> None:
    agent = client_for(staff(org_a, Role.AGENT))
    with tenant_context(org_a):
        text = MessageFactory()
        bad = MessageFactory(media_id="../../etc/passwd")
    assert agent.get(url(text)).json()["code"] == "no_media"
    assert agent.get(url(bad)).status_code == 400
    fake_graph.fail(100, message="(fake) media expired")
    expired = agent.get(url(image))
    assert expired.status_code == 422 and expired.json()["meta"]["code"] == 100
    # The bytes served do not match the checksum Meta gave: refused, nothing kept.
    fake_graph.route("GET", r"/_media/(?P<media>[^/]+)",
                     lambda fake, call, match: (200, Binary(b"tampered", "image/jpeg")))
    tampered = agent.get(url(image))
    assert tampered.status_code == 502 and "checksum" in tampered.json()["detail"]
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_a_file_larger_than_whatsapp_allows_is_refused_while_it_streams(
    fake_graph: FakeGraph, org_a: Organization, image: Message, monkeypatch: Any
) -> None:
    """The download is streamed to a spooled file and stops at the limit, never held whole."""
    from crm.whatsapp import media

    monkeypatch.setattr(media, "LARGEST", len(JPEG) - 1)
    refused = client_for(staff(org_a, Role.AGENT)).get(url(image))
    assert refused.status_code == 502 and "larger than WhatsApp allows" in refused.json()["detail"]
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    with tenant_context(org_a):  # both calls are in the api log, the download's without bytes
        logged = WhatsAppApiLog.objects.order_by("created_at")
        assert [log.request_url.rsplit("/", 1)[-1] for log in logged] == [image.media_id] * 2


def test_another_organizations_media_is_404(
    fake_graph: FakeGraph, org_b: Organization, image: Message
) -> None:
    other = client_for(staff(org_b, Role.ORG_ADMIN))
    assert other.get(url(image)).status_code == 404
    assert fake_graph.calls == []


def _upload(client: Any, content: bytes, mime: str, **extra: str) -> Any:
    file = SimpleUploadedFile("file.bin", content, content_type=mime)
    return client.post("/api/v1/media/", {"file": file, **extra}, format="multipart")


def test_upload_returns_the_media_id_to_send_by(
    fake_graph: FakeGraph, org_a: Organization, numbers: list[WhatsAppNumber]
) -> None:
    agent = client_for(staff(org_a, Role.AGENT))
    response = _upload(agent, JPEG, "image/jpeg", from_number=numbers[1].phone_number_id)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["type"] == "image" and data["file_size"] == len(JPEG)
    assert data["from_number"] == str(numbers[1].pk)
    assert fake_graph.media[data["id"]].content == JPEG
    call = fake_graph.calls[-1]
    assert call.path.endswith(f"/{numbers[1].phone_number_id}/media")
    assert call.authorization == "Bearer TOKEN-2"
    # Kept: a message sent with this media id is served without asking Meta.
    with tenant_context(org_a):
        sent = MessageFactory(type="image", media_id=data["id"], mime_type="image/jpeg",
                              sender_type="agent")
    fake_graph.reset()
    assert b"".join(agent.get(url(sent)).streaming_content) == JPEG
    assert fake_graph.calls == []
    sticker = _upload(agent, ANIMATED_WEBP + b"\x00" * 200_000, "image/webp")
    assert sticker.status_code == 201 and sticker.json()["type"] == "sticker"


@pytest.mark.parametrize(("content", "mime", "message"), [
    (JPEG.ljust(5 * 1024 * 1024 + 1, b"x"), "image/jpeg",
     "This image/jpeg file is 5242881 bytes; WhatsApp takes image files of at most 5 MB."),
    (STATIC_WEBP + b"\x00" * 102_400, "image/webp",
     "This image/webp file is 102456 bytes; WhatsApp takes static sticker files of at most "
     "100 KB."),
    (b"GIF89a", "image/gif", "WhatsApp does not take image/gif: send one of "),
    (b"", "application/pdf", "The submitted file is empty."),
])
def test_upload_limits_are_clear_400s(
    fake_graph: FakeGraph, org_a: Organization, numbers: list[WhatsAppNumber],
    content: bytes, mime: str, message: str,
) -> None:
    response = _upload(client_for(staff(org_a, Role.AGENT)), content, mime)
    assert response.status_code == 400
    body = response.json()
    assert message in (body.get("detail") or str(body["file"]))
    assert fake_graph.calls == []


def test_upload_from_another_organizations_number_is_404(
    fake_graph: FakeGraph, org_b: Organization, numbers: list[WhatsAppNumber]
) -> None:
    response = _upload(client_for(staff(org_b, Role.ORG_ADMIN)), JPEG, "image/jpeg",
                       from_number=str(numbers[0].pk))
    assert response.status_code == 404 and fake_graph.calls == []

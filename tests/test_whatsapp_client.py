"""GraphClient on the fake Graph API: answers, errors by code, retries, logs without secrets."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from bench.fake_graph import FakeGraph, FakeGraphServer
from crm.models import Organization, WhatsAppApiLog, WhatsAppNumber
from crm.whatsapp import errors
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import Action
from crm.whatsapp.schemas import MessageContent, OutboundMessage
from tenancy.context import tenant_context
from tests.factories import MessageFactory, WhatsAppNumberFactory

TEXT = {"type": "text", "text": {"body": "Hello"}}
# Every error class by one of its codes, with what a sender must do about it.
CODES = [
    (190, errors.AuthError, Action.STOP), (0, errors.AuthError, Action.STOP),
    (10, errors.PermissionMissingError, Action.STOP),
    (230, errors.PermissionMissingError, Action.STOP),
    (130429, errors.ThroughputError, Action.RETRY), (80007, errors.ThroughputError, Action.RETRY),
    (4, errors.ThroughputError, Action.RETRY),
    (131056, errors.PairRateLimitError, Action.RETRY),
    (131047, errors.OutsideWindowError, Action.OUTSIDE_WINDOW),
    (131026, errors.UndeliverableError, Action.FAIL),
    (131048, errors.SpamLimitError, Action.STOP),
    (131049, errors.EcosystemLimitError, Action.FAIL),
    (131050, errors.OptedOutError, Action.OPTED_OUT),
    (132001, errors.TemplateError, Action.FAIL), (132015, errors.TemplateError, Action.FAIL),
    (100, errors.BadRequestError, Action.FAIL), (131051, errors.BadRequestError, Action.FAIL),
    (131000, errors.ServerError, Action.RETRY), (2, errors.ServerError, Action.RETRY),
    (368, errors.AccountBlockedError, Action.STOP),
    (131031, errors.AccountBlockedError, Action.STOP),
]


@pytest.fixture
def number(in_a: Organization) -> WhatsAppNumber:
    return WhatsAppNumberFactory(access_token="SECRET-TOKEN-abc123")


def body(to: str = "919000000001") -> OutboundMessage:
    return OutboundMessage.build(MessageContent.model_validate(TEXT), to)


def test_send_returns_the_wamid_and_logs_the_call_without_the_token(
    fake_graph: FakeGraph, number: WhatsAppNumber
) -> None:
    sent = GraphClient(number).send(body())
    assert sent.wamid.startswith("wamid.") and sent.wa_id == "919000000001"
    call = fake_graph.calls[0]
    assert call.path == f"/v21.0/{number.phone_number_id}/messages"
    assert call.authorization == "Bearer SECRET-TOKEN-abc123"
    assert call.body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                         "to": "919000000001", "type": "text",
                         "text": {"body": "Hello", "preview_url": False}}
    log = WhatsAppApiLog.objects.get()
    assert log.organization_id == number.organization_id
    assert log.whatsapp_message_id == sent.wamid and log.response_status_code == 200
    assert log.request_payload["json"] == call.body and log.phone_number == "919000000001"
    assert log.duration_ms is not None and log.request_time and log.response_time
    assert "SECRET-TOKEN" not in str(log.__dict__)


def test_mark_read_and_phone_number(fake_graph: FakeGraph, number: WhatsAppNumber) -> None:
    client = GraphClient(number)
    assert client.mark_read("wamid.IN1") is True
    assert fake_graph.calls[0].body == {"messaging_product": "whatsapp", "status": "read",
                                        "message_id": "wamid.IN1"}
    assert client.get_phone_number()["id"] == number.phone_number_id
    assert fake_graph.calls[1].query == {
        "fields": ["id,display_phone_number,verified_name,quality_rating"]}
    assert WhatsAppApiLog.objects.count() == 2


@pytest.mark.parametrize(("code", "error_class", "action"), CODES)
def test_every_meta_code_maps_to_its_error_and_action(
    fake_graph: FakeGraph, number: WhatsAppNumber, code: int, error_class: type, action: Action
) -> None:
    fake_graph.fail(code, times=10, message="(fake) refused SECRET-TOKEN-abc123")
    with pytest.raises(error_class) as raised:
        GraphClient(number, retries=0).send(body())
    error = raised.value
    assert error.code == code and error.action is action
    assert "SECRET-TOKEN" not in str(error) and "SECRET-TOKEN" not in repr(error.as_json())
    log = WhatsAppApiLog.objects.get()
    assert log.error_code == str(code) and "SECRET-TOKEN" not in str(log.__dict__)


def test_unknown_codes_by_http_status() -> None:
    assert isinstance(errors.error_from_response(503, {}), errors.ServerError)
    assert isinstance(errors.error_from_response(429, "not json"), errors.ThroughputError)
    assert isinstance(errors.error_from_response(401, None), errors.AuthError)
    assert isinstance(errors.error_from_response(400, {"error": {"code": 999999}}),
                      errors.BadRequestError)


def test_retryable_codes_are_retried_with_backoff(
    fake_graph: FakeGraph, number: WhatsAppNumber, settings: Any
) -> None:
    """The real schedule (the fake_graph fixture's back-off is 0): doubling from
    WHATSAPP_GRAPH_BACKOFF, each delay jittered by 0.5-1.5, capped at WHATSAPP_GRAPH_BACKOFF_MAX."""
    settings.WHATSAPP_GRAPH_BACKOFF, settings.WHATSAPP_GRAPH_BACKOFF_MAX = 0.5, 8.0
    waits: list[float] = []
    fake_graph.fail(130429, times=6)
    sent = GraphClient(number, retries=6, sleep=waits.append).send(body())
    assert sent.wamid and len(fake_graph.calls) == 7
    assert WhatsAppApiLog.objects.count() == 7  # every attempt is recorded
    doubling = [0.5 * 2 ** n for n in range(6)]
    assert len(waits) == 6
    for wait, base in zip(waits, doubling):
        assert min(base * 0.5, 8.0) <= wait <= min(base * 1.5, 8.0), waits


@pytest.mark.parametrize(("jitter", "schedule"), [
    (min, [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]),
    (max, [0.75, 1.5, 3.0, 6.0, 8.0, 8.0]),
], ids=["least", "most"])
def test_the_backoff_schedule_at_the_jitter_s_bounds(
    fake_graph: FakeGraph, number: WhatsAppNumber, settings: Any,
    monkeypatch: pytest.MonkeyPatch, jitter: Any, schedule: list[float],
) -> None:
    """Doubling, then the ceiling; the jitter pinned at its least and at its most."""
    settings.WHATSAPP_GRAPH_BACKOFF, settings.WHATSAPP_GRAPH_BACKOFF_MAX = 0.5, 8.0
    monkeypatch.setattr("crm.whatsapp.client.random.uniform", jitter)
    waits: list[float] = []
    fake_graph.fail(131000, times=6)
    GraphClient(number, retries=6, sleep=waits.append).send(body())
    assert waits == schedule


def test_retries_give_up_after_the_limit(fake_graph: FakeGraph, number: WhatsAppNumber) -> None:
    fake_graph.fail(131000, times=5)
    with pytest.raises(errors.ServerError):
        GraphClient(number, retries=2, sleep=lambda _: None).send(body())
    assert len(fake_graph.calls) == 3


@pytest.mark.parametrize("code", [131026, 131047, 190, 132001, 131050])
def test_other_codes_are_never_retried(
    fake_graph: FakeGraph, number: WhatsAppNumber, code: int
) -> None:
    fake_graph.fail(code, times=5)
    with pytest.raises(errors.GraphError):
        GraphClient(number, retries=3, sleep=lambda _: None).send(body())
    assert len(fake_graph.calls) == 1


def test_a_send_that_timed_out_is_not_retried_but_a_refused_connection_is(
    number: WhatsAppNumber,
) -> None:
    attempts: list[str] = []

    def timing_out(request: httpx.Request) -> httpx.Response:
        attempts.append("read")
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(errors.TransportError) as raised:
        GraphClient(number, transport=httpx.MockTransport(timing_out), retries=3,
                    sleep=lambda _: None).send(body())
    assert len(attempts) == 1 and raised.value.action is Action.RETRY

    def refusing(request: httpx.Request) -> httpx.Response:
        attempts.append("connect")
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(errors.TransportError):
        GraphClient(number, transport=httpx.MockTransport(refusing), retries=2,
                    sleep=lambda _: None).send(body())
    assert attempts.count("connect") == 3
    assert WhatsAppApiLog.objects.filter(response_status_code__isnull=True).count() == 4


def test_a_number_of_another_organization_is_refused(org_b: Organization) -> None:
    with tenant_context(org_b):
        theirs = WhatsAppNumberFactory()
    with pytest.raises(errors.NumberUnavailable):
        GraphClient(theirs)
    with tenant_context(org_b), pytest.raises(errors.NumberUnavailable):
        GraphClient(WhatsAppNumberFactory(access_token=None))


def test_over_a_real_socket(fake_graph_server: FakeGraphServer, number: WhatsAppNumber) -> None:
    client = GraphClient(number)
    first, second = client.send(body()), client.send(body())
    assert first.wamid != second.wamid
    calls = fake_graph_server.fake.calls
    assert len(calls) == 2 and all(c.answered_at >= c.received_at for c in calls)
    fake_graph_server.fake.fail(131026, to="919000000001")
    with pytest.raises(errors.UndeliverableError):
        client.send(body())


# --- The token goes to Meta only (issue 15, item 2) -----------------------------------------------

@pytest.mark.parametrize("segments", [
    ("http://169.254.169.254/latest",), ("https://evil.test/x",), ("//evil.test",),
    ("..",), (".", "messages"), ("123/../..",), ("123?x=1",), ("123#x",), ("123%2F..",),
    ("",), ("1" * 129,),
])
def test_no_path_leaves_the_graph_api(
    fake_graph: FakeGraph, number: WhatsAppNumber, segments: tuple[str, ...]
) -> None:
    with pytest.raises(errors.UnsafeRequest):
        GraphClient(number).request("GET", *segments)
    assert fake_graph.calls == [] and not WhatsAppApiLog.objects.exists()


def test_a_number_whose_id_is_a_url_sends_the_token_nowhere(
    fake_graph: FakeGraph, number: WhatsAppNumber
) -> None:
    """A legacy row (crm.0020 keeps them) or one changed in memory: refused, never called."""
    number.phone_number_id = "https://evil.test/steal"
    client = GraphClient(number)
    for call in (lambda: client.send(body()), lambda: client.mark_read("wamid.X"),
                 client.get_phone_number):
        with pytest.raises(errors.UnsafeRequest) as refused:
            call()
        assert refused.value.action is Action.STOP
    assert fake_graph.calls == []


@pytest.mark.parametrize("where", [
    "http://evil.test/_media/{id}", "https://127.0.0.1:9/_media/{id}",
    "http://user@127.0.0.1:9/_media/{id}", "http://127.0.0.1:10/_media/{id}", "file:///etc/passwd",
])
def test_media_is_downloaded_from_metas_hosts_only(
    fake_graph: FakeGraph, in_a: Organization, number: WhatsAppNumber, where: str
) -> None:
    from crm.whatsapp.media import message_media
    from crm.whatsapp.refusals import Refused

    media_id = fake_graph.add_media(b"\xff\xd8 a photo", "image/jpeg")
    fake_graph.route("GET", rf"/v[\d.]+/{media_id}", lambda fake, call, match: (
        200, {"id": media_id, "url": where.format(id=media_id), "mime_type": "image/jpeg"}))
    message = MessageFactory(type="image", media_id=media_id, body=None)
    with pytest.raises(Refused) as refused:
        message_media(message)
    assert refused.value.status == 502
    assert [call.base_url for call in fake_graph.calls] == ["http://127.0.0.1:9"]  # Meta only


def test_the_api_log_holds_no_token(fake_graph: FakeGraph, number: WhatsAppNumber) -> None:
    fake_graph.route("GET", r"/v[\d.]+/(?P<waba>\d+)/phone_numbers", lambda fake, call, match: (
        200, {"data": [], "echo": "SECRET-TOKEN-abc123", "paging": {
            "next": "https://graph.facebook.com/v21.0/1/phone_numbers?access_token=EAAG-other"
                    "&after=2"}}))
    GraphClient(number).request("GET", "200000000000001", "phone_numbers",
                                params={"access_token": "EAAG-param", "limit": 1})
    logged = str(WhatsAppApiLog.objects.values().get())
    assert "SECRET-TOKEN" not in logged and "EAAG" not in logged
    assert "access_token=***&after=2" in logged

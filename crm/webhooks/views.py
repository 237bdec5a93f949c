"""/webhooks/whatsapp/: Meta's verification handshake (GET) and signed deliveries (POST)."""
from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.webhooks.deliveries import accept, senders_of
from crm.webhooks.parsing import check_shape, load_json
from crm.webhooks.payload import MalformedPayload
from crm.webhooks.signature import handshake_challenge, signature_matches
from crm.webhooks.tasks import after_accept

logger = logging.getLogger("crm.webhooks")


def _handshake(request: HttpRequest) -> HttpResponse:
    challenge = handshake_challenge(request.GET, settings.WHATSAPP_VERIFY_TOKEN)
    if challenge is None:
        logger.warning("WhatsApp webhook: verification handshake refused")
        return HttpResponse("Forbidden", status=403, content_type="text/plain")
    return HttpResponse(challenge, content_type="text/plain")


def _delivery(request: HttpRequest) -> HttpResponse:
    body = request.body  # the raw bytes: the signature covers them, not a re-encoding
    secret = settings.WHATSAPP_APP_SECRET
    if not signature_matches(body, request.headers.get("X-Hub-Signature-256"), secret):
        logger.warning(
            "WhatsApp webhook: delivery refused, %s",
            "WHATSAPP_APP_SECRET is not configured" if not secret else
            "missing or wrong X-Hub-Signature-256",
        )
        return JsonResponse({"error": "invalid signature"}, status=401)
    try:
        data = load_json(body)
        check_shape(data)  # the items are judged one by one by the worker
    except MalformedPayload as error:
        # The path and what was expected only: never the payload's content.
        logger.warning("WhatsApp webhook: malformed delivery refused (%s)", error)
        return JsonResponse({"error": "malformed payload", "detail": str(error)}, status=400)
    # Durable before the answer: from here on Meta need not send it again.
    delivery = accept(body, senders_of(data))
    after_accept()
    return JsonResponse({"delivery": delivery})


@csrf_exempt  # Meta signs its deliveries; it has no CSRF token to send
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    """Answer Meta's verification handshake, or accept a signed delivery (kept, then processed)."""
    if request.method == "GET":
        return _handshake(request)
    return _delivery(request)

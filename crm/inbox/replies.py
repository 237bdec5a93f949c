"""What the composer sends: text, a file, or an approved template, all through send_message.

Every send goes through `crm.whatsapp.send.send_message` (window, opt-out, numbers, failures
stored); a file is first uploaded to Meta with the conversation's number's GraphClient.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile

from crm.models import Customer, Message, Template, User
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import GraphError, NumberUnavailable
from crm.whatsapp.numbers import sending_number
from crm.whatsapp.refusals import MetaRefused, Refused
from crm.whatsapp.send import send_message

PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
MAX_FILE_BYTES = 16 * 1024 * 1024  # Meta's limit for audio and video (documents allow 100 MB)
APPROVED = "APPROVED"


@dataclass(frozen=True)
class TemplateChoice:
    """An approved template the composer offers, with the parameters its body needs."""

    name: str
    language: str
    text: str
    parameters: tuple[str, ...]

    @property
    def key(self) -> str:
        """The form value naming it."""
        return f"{self.name}:{self.language}"


def _body_text(template: Template) -> str:
    body = template.template_body if isinstance(template.template_body, dict) else {}
    for component in body.get("components") or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


def _field(template: Template, name: str, default: str | None) -> str | None:
    """A template's column where the schema has it, else the same key of its Meta object."""
    value = getattr(template, name, None)
    body = template.template_body if isinstance(template.template_body, dict) else {}
    return value or body.get(name) or default


def approved_templates() -> list[TemplateChoice]:
    """The organization's own and shared templates that Meta approved (or whose status is unknown,
    as in wb-crm, which stored approved templates only); the organization's own template wins
    over a shared one of the same name and language."""
    choices: dict[str, TemplateChoice] = {}
    # Shared rows first, so the organization's own replace them.
    for template in sorted(Template.objects.all(), key=lambda t: t.organization_id is not None):
        status = (_field(template, "status", "") or "").upper()
        if status and status != APPROVED:
            continue
        text = _body_text(template)
        names = tuple(dict.fromkeys(PLACEHOLDER.findall(text)))
        choice = TemplateChoice(template.template_name,
                                _field(template, "language", "en_US") or "en_US", text, names)
        choices[choice.key] = choice
    return sorted(choices.values(), key=lambda c: (c.name, c.language))


def reply_text(customer: Customer, text: str, user: User) -> Message:
    """Send free-form text (inside the 24-hour window; send_message refuses it outside)."""
    if not text.strip():
        raise Refused(400, "empty", "Type a reply first.", field="text")
    return send_message(customer, {"type": "text", "text": {"body": text}}, user=user)


def reply_template(customer: Customer, key: str, values: list[str], user: User) -> Message:
    """Send the approved template `key` ("name:language") with its body parameters in order."""
    choice = next((c for c in approved_templates() if c.key == key), None)
    if choice is None:
        raise Refused(400, "template_not_found", "Choose one of your organization's approved "
                      "templates.", field="template")
    if len(values) != len(choice.parameters) or not all(v.strip() for v in values):
        raise Refused(400, "template_parameters", f"The template {choice.name} needs "
                      f"{len(choice.parameters)} parameter(s): fill in each one.",
                      field="parameters")
    named = not all(name.isdigit() for name in choice.parameters)
    parameters: list[dict[str, Any]] = [
        {"type": "text", "text": value, **({"parameter_name": name} if named else {})}
        for name, value in zip(choice.parameters, values)
    ]
    template: dict[str, Any] = {"name": choice.name, "language": {"code": choice.language}}
    if parameters:
        template["components"] = [{"type": "body", "parameters": parameters}]
    return send_message(customer, {"type": "template", "template": template}, user=user)


def media_type(mime: str) -> str:
    """The WhatsApp message type of a file by its MIME type (anything else: a document)."""
    kind = mime.split("/", 1)[0]
    return kind if kind in ("image", "audio", "video") else "document"


def reply_file(customer: Customer, upload: UploadedFile, caption: str, user: User) -> Message:
    """Upload the file to Meta with the conversation's number, then send it as media."""
    if upload.size and upload.size > MAX_FILE_BYTES:
        raise Refused(400, "file_too_large", "Attach a file of at most 16 MB.", field="file")
    mime = upload.content_type or "application/octet-stream"
    number = sending_number(customer)
    try:
        answer = GraphClient(number).request(
            "POST", f"{number.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime},
            files={"file": (upload.name, upload.read(), mime)},
        )
    except NumberUnavailable as error:
        raise Refused(409, "number_unavailable", str(error), field="from_number") from None
    except GraphError as error:
        raise MetaRefused(error) from None
    if not isinstance(answer, dict) or not answer.get("id"):
        raise Refused(502, "upload_failed", "WhatsApp accepted the file but returned no media "
                      "id: try again.", field="file")
    kind = media_type(mime)
    media: dict[str, Any] = {"id": str(answer["id"])}
    if kind != "audio" and caption.strip():
        media["caption"] = caption
    if kind == "document":
        media["filename"] = upload.name
    return send_message(customer, {"type": kind, kind: media}, user=user)

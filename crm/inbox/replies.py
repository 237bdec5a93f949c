"""What the composer sends: text, a file, or an approved template, all through send_message.

Every send goes through `crm.whatsapp.send.send_message` (window, opt-out, numbers, failures
stored); a file is first uploaded to Meta with `crm.whatsapp.media.upload_media`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from pydantic import ValidationError

from crm.models import Customer, Message, Template, User
from crm.storable import PROBLEM, unstorable
from crm.whatsapp.media import upload_media
from crm.whatsapp.media_types import essence
from crm.whatsapp.numbers import sending_number
from crm.whatsapp.refusals import Refused
from crm.whatsapp.schemas import MessageContent
from crm.whatsapp.send import send_message

PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
APPROVED = "APPROVED"
MAX_TEXT = 4096  # WhatsApp's limit of a text message


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


def _content(payload: dict[str, Any], field: str) -> MessageContent:
    """The message the composer built, checked as WhatsApp checks it; a refusal (400) names the
    composer's field (a form sends any length and any character, unlike the composer)."""
    if unstorable(payload) is not None:
        raise Refused(400, "invalid", f"{field}: {PROBLEM}.", field=field)
    try:
        return MessageContent.model_validate(payload)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        field = "file" if "filename" in first["loc"] else field  # a document's name
        raise Refused(400, "invalid", f"{field}: {first['msg']}; change it, then send again.",
                      field=field) from None


def reply_text(customer: Customer, text: str, user: User) -> Message:
    """Send free-form text (inside the 24-hour window; send_message refuses it outside)."""
    if not text.strip():
        raise Refused(400, "empty", "Type a reply first.", field="text")
    if len(text) > MAX_TEXT:
        raise Refused(400, "too_long", f"text: WhatsApp takes at most {MAX_TEXT:,} characters in "
                      f"a message ({len(text):,} typed): shorten it, or send it in parts.",
                      field="text")
    return send_message(customer, _content({"type": "text", "text": {"body": text}}, "text"),
                        user=user)


def reply_template(customer: Customer, key: str, values: list[str], user: User,
                   fields_for: str) -> Message:
    """Send the approved template `key` ("name:language") with its body parameters in order;
    `fields_for` is the template whose fields the agent filled in, which must be `key`."""
    choice = next((c for c in approved_templates() if c.key == key), None)
    if choice is None:
        raise Refused(400, "template_not_found", "Choose one of your organization's approved "
                      "templates.", field="template")
    if fields_for != key:
        # Values typed for another template would go out in a message never previewed.
        raise Refused(400, "template_changed", f"The fields shown are not those of {choice.name}: "
                      "choose the template again, check its text and fill in its fields.",
                      field="template")
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
    return send_message(customer, _content({"type": "template", "template": template},
                                           "parameters"), user=user)


def reply_file(customer: Customer, upload: UploadedFile, caption: str, user: User) -> Message:
    """Upload the file to Meta from the conversation's number (WhatsApp's limits checked), then
    send it as the message type its MIME type makes it."""
    number = sending_number(customer)
    # The browser's Content-Type is a label (a malformed one says nothing): the bytes decide.
    uploaded = upload_media(upload, essence(upload.content_type), str(number.pk))
    kind = uploaded.type.split()[-1]  # "static sticker" is sent as a sticker
    media: dict[str, Any] = {"id": uploaded.media_id}
    if kind in ("image", "video", "document") and caption.strip():
        media["caption"] = caption
    if kind == "document":
        media["filename"] = upload.name
    return send_message(customer, _content({"type": kind, kind: media}, "text"),
                        from_number=number, user=user)

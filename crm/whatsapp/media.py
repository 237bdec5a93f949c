"""WhatsApp media: inbound files fetched once from Meta, outbound files uploaded to Meta.

Files are kept in Django's default storage under `whatsapp-media/<organization id>/<media id>`:
the organization is part of the name, and a file is reached only through a message (or an
upload) of the active organization, so one tenant never reads another's. The shared `files`
table is not used: it has no organization, and every organization's staff may read it.
"""
from __future__ import annotations

import hashlib
import tempfile
import uuid
from contextlib import closing
from dataclasses import dataclass
from typing import IO

from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db.models import QuerySet

from crm.models import Message, WhatsAppNumber
from crm.webhooks.numbers import digits
from crm.whatsapp.client import GraphClient
from crm.whatsapp.errors import GraphError, NumberUnavailable
from crm.whatsapp.media_types import (
    HEAD,
    SAFE,
    essence,
    is_media_id,
    normalised,
    safe_filename,
    served_as,
    sniffed,
)
from crm.whatsapp.refusals import MetaRefused, Refused
from tenancy.context import get_current_organization_id

KB, MB = 1024, 1024 * 1024
# WhatsApp's accepted types and size limits, by MIME type: (media type, largest size in bytes).
LIMITS: dict[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 * MB), "image/png": ("image", 5 * MB),
    "video/mp4": ("video", 16 * MB), "video/3gpp": ("video", 16 * MB),
    **{f"audio/{sub}": ("audio", 16 * MB) for sub in ("aac", "mp4", "mpeg", "amr", "ogg")},
    **{mime: ("document", 100 * MB) for mime in (
        "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    )},
    "image/webp": ("sticker", 500 * KB),  # animated; a static sticker: STATIC_STICKER
}
STATIC_STICKER = 100 * KB
LARGEST = 100 * MB


@dataclass(frozen=True)
class StoredMedia:
    """A media file in the storage, and how to serve it."""

    name: str
    mime_type: str
    filename: str
    inline: bool

    def open(self) -> IO[bytes]:
        return default_storage.open(self.name, "rb")


@dataclass(frozen=True)
class Uploaded:
    """A file uploaded to Meta: send it with {"<type>": {"id": media_id}}."""

    media_id: str
    type: str
    mime_type: str
    size: int
    number: WhatsAppNumber

    def as_json(self) -> dict[str, object]:
        return {"id": self.media_id, "type": self.type, "mime_type": self.mime_type,
                "file_size": self.size, "from_number": str(self.number.pk),
                "phone_number_id": self.number.phone_number_id}


def clean_media_id(value: str | None) -> str | None:
    """A recorded message's media_id (API, admin): Meta's id of a file, or none."""
    if value in (None, ""):
        return None
    if not is_media_id(value):
        raise ValidationError("Give Meta's id of the file, as POST /api/v1/media/ answers it: "
                              "letters, digits, _ and - only, at most 128 characters.")
    return value


def clean_mime_type(value: str | None) -> str | None:
    """A recorded message's mime_type (API, admin): one of WhatsApp's types, lower-cased."""
    if value in (None, ""):
        return None
    found = normalised(value)
    if found is None or essence(found) not in LIMITS:
        raise ValidationError(f"Give one of the media types WhatsApp takes, as type/subtype "
                              f"(no commas, spaces or line breaks): {', '.join(sorted(LIMITS))}.")
    return found


def storage_name(media_id: str) -> str:
    """Where a media file of the active organization is kept."""
    if not is_media_id(media_id):
        raise Refused(400, "bad_media_id", "This message's media id is not Meta's id of a file "
                      "(letters, digits, _ and - only): correct the message's media_id.",
                      field="media_id")
    return f"whatsapp-media/{get_current_organization_id()}/{media_id}"


def _store(name: str, content: File) -> None:
    """Save under exactly `name`, once: a copy saved meanwhile by another request wins."""
    if default_storage.exists(name):
        return
    saved = default_storage.save(name, content)
    if saved != name:  # the storage picked another name: `name` appeared in the meantime
        default_storage.delete(saved)


def _client(number: WhatsAppNumber) -> GraphClient:
    try:
        return GraphClient(number)
    except NumberUnavailable as error:
        raise Refused(409, "number_unavailable", str(error)) from None


def _active_numbers() -> QuerySet[WhatsAppNumber]:
    """The organization's active numbers, oldest first."""
    return WhatsAppNumber.objects.filter(is_active=True).order_by("created_at", "phone_number_id")


def receiving_number(message: Message) -> WhatsAppNumber:
    """The organization's number a message came to (its token may read the message's media)."""
    numbers = list(_active_numbers())
    to = digits(message.to_wa_id)
    for number in numbers:
        if to and digits(number.display_number) == to:
            return number
    if len(numbers) == 1:
        return numbers[0]
    raise Refused(409, "number_unknown", "Cannot tell which of your WhatsApp numbers received "
                  "this message (its to_wa_id matches none of their display numbers): set the "
                  "display number of the receiving number.")


def message_media(message: Message) -> StoredMedia:
    """The message's file, fetched from Meta with the receiving number's token the first time."""
    if not message.media_id:
        raise Refused(404, "no_media", "This message carries no media.")
    name = storage_name(message.media_id)
    mime = message.mime_type
    if not default_storage.exists(name):
        fetched = _fetch(message, name)
        if fetched and not mime:  # remembered for the next request, served from the storage
            Message.objects.filter(pk=message.pk, mime_type=None).update(mime_type=fetched)
            mime = fetched
    with default_storage.open(name, "rb") as file:
        head = file.read(HEAD)
    # The stored type is only a label (old rows hold anything): the allow-list and the bytes
    # decide, so no stored value becomes a header as it is.
    served, inline = served_as(mime, head)
    return StoredMedia(name, served, safe_filename(message.filename, message.media_id), inline)


class _Download:
    """A file streamed from Meta: spooled to disk past 1 MB, hashed and measured as it comes."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=MB)
        self.hash = hashlib.sha256()
        self.size = 0

    def start(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hash, self.size = hashlib.sha256(), 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > LARGEST:
            raise Refused(502, "meta_media", "Meta's file is larger than WhatsApp allows.")
        self.hash.update(chunk)
        self.file.write(chunk)

    def close(self) -> None:
        self.file.close()


def _fetch(message: Message, name: str) -> str | None:
    """Download the media from Meta into the storage; the MIME type Meta gives (checked)."""
    client = _client(receiving_number(message))
    with closing(_Download()) as download:
        try:
            info = client.request("GET", message.media_id)
            url = info.get("url") if isinstance(info, dict) else None
            if not isinstance(url, str):
                raise Refused(502, "meta_media", "Meta gave no download URL for this media.")
            client.download(url, download)
        except GraphError as error:
            raise MetaRefused(error) from None
        expected = info.get("sha256")
        if expected and download.hash.hexdigest() != expected:
            raise Refused(502, "meta_media", "The file from Meta does not match its checksum; "
                          "try again.")
        download.file.seek(0)
        _store(name, File(download.file))
    declared = info.get("mime_type")
    return None if declared is None else normalised(declared) or SAFE


def _is_animated_webp(head: bytes) -> bool:
    """An extended WebP (VP8X) with the animation flag set."""
    flags = head[20:21]
    return head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and bool(flags and flags[0] & 0x02)


def check_upload(declared: str | None, size: int, head: bytes) -> tuple[str, str]:
    """A file's MIME type and WhatsApp media type, or Refused(400) saying which limit it breaks."""
    # The bytes decide: a declared type is a label the sender chose, so it must be one they can
    # be; without one (or with application/octet-stream, "unknown") their likeliest type is used.
    if size == 0:
        raise Refused(400, "media_empty", "The file is empty.", field="file")
    types = sniffed(head)
    mime_type = declared if declared not in (None, SAFE) else next(iter(types), None)
    if mime_type not in LIMITS:
        raise Refused(400, "media_type", f"WhatsApp does not take {mime_type or 'this type'}: "
                      f"send one of {', '.join(sorted(LIMITS))}.", field="file")
    if mime_type not in types:
        content = f"a {types[0]} file" if types else "none of the types WhatsApp takes"
        raise Refused(400, "media_type_mismatch", f"This file is not {mime_type}: its content is "
                      f"{content}: send it with the type it is.", field="file")
    kind, limit = LIMITS[mime_type]
    if kind == "sticker" and not _is_animated_webp(head):
        limit, kind = STATIC_STICKER, "static sticker"
    if size > limit:
        shown = f"{limit // MB} MB" if limit >= MB else f"{limit // KB} KB"
        raise Refused(400, "media_too_large", f"This {mime_type} file is {size} bytes; WhatsApp "
                      f"takes {kind} files of at most {shown}.", field="file")
    return mime_type, "sticker" if kind == "static sticker" else kind


def _number(key: str | None) -> WhatsAppNumber:
    """The organization's number by id or phone_number_id; default: its oldest active one."""
    numbers = _active_numbers()
    if key:
        try:
            numbers = numbers.filter(pk=uuid.UUID(key))
        except ValueError:
            numbers = numbers.filter(phone_number_id=key)
    number = numbers.first()
    if number is None:
        raise Refused(404 if key else 409, "number_not_found",
                      "No active WhatsApp number of your organization has this id."
                      if key else "Your organization has no active WhatsApp number.",
                      field="from_number")
    return number


def upload_media(file: File, declared: str | None, number_key: str | None = None) -> Uploaded:
    """Check the file against WhatsApp's limits, upload it to Meta, keep a copy; its media id."""
    file.seek(0)
    # `declared` is the sender's type/subtype (its syntax checked), or None: the bytes decide.
    mime_type, kind = check_upload(declared, file.size, file.read(HEAD))
    number = _number(number_key)
    file.seek(0)
    name = file.name or f"upload.{mime_type.rsplit('/', 1)[-1]}"
    try:
        answer = _client(number).request(
            "POST", number.phone_number_id, "media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (name.rsplit("/", 1)[-1], file, mime_type)},
        )
    except GraphError as error:
        raise MetaRefused(error) from None
    media_id = str(answer.get("id") or "") if isinstance(answer, dict) else ""
    if not is_media_id(media_id):
        raise Refused(502, "meta_media", "Meta accepted the upload but returned no media id.")
    file.seek(0)
    _store(storage_name(media_id), file)
    return Uploaded(media_id, kind, mime_type, file.size, number)

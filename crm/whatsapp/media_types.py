"""Media types and media ids: the syntax accepted where they enter, and what a file's bytes are.

A declared type (a customer's payload, Meta's answer, an agent's request) is only a label. It is
checked for syntax where it enters, and what is served is decided from an allow-list and the
file's own first bytes, never from the label alone: `video/mp4,text/html` or an HTML file called
text/plain must never make a browser render a document on the CRM's origin. The sniffer is
hand-written on purpose: it only has to tell WhatsApp's ~20 media types apart by their magic
bytes (and plain text from markup, which no magic-number library does), so a dependency
(`filetype`, or `python-magic` and libmagic) would bring more than it adds.
"""
from __future__ import annotations

import codecs
import re
import unicodedata

SAFE = "application/octet-stream"  # what a type that cannot be trusted is stored and served as
HEAD = 512  # bytes of a file the sniffer reads
# RFC 6838's restricted-name, lower-cased: no commas, spaces, quotes or control characters.
_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_TYPE = re.compile(rf"(?P<type>{_NAME}/{_NAME})(?P<parameters>(?:; ?{_NAME}={_NAME}){{0,4}})")
# Meta's media ids are digits; letters, `_` and `-` are allowed for hand-made rows (the demo's),
# but never a dot or a separator: the id names a file in the storage.
MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
# Rendered by the browser only as what they are (with nosniff): images, audio and video that
# WhatsApp carries. Documents (PDF included: a viewer runs its scripts) are downloaded.
INLINE = frozenset({
    "image/jpeg", "image/png", "image/webp",
    "audio/aac", "audio/amr", "audio/mp4", "audio/mpeg", "audio/ogg",
    "video/mp4", "video/3gpp",
})
_ISO_MEDIA = ("video/mp4", "video/3gpp", "audio/mp4")
_OLE = ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint")
_OOXML = tuple(f"application/vnd.openxmlformats-officedocument.{kind}" for kind in (
    "wordprocessingml.document", "spreadsheetml.sheet", "presentationml.presentation"))
# Plain text may hold these control characters; any other means the file is binary.
_TEXT_CONTROLS = frozenset("\t\n\r\f")


def normalised(value: object) -> str | None:
    """A declared media type lower-cased as `type/subtype[; name=value]`; None if it is not one."""
    if not isinstance(value, str) or not value.isascii():
        return None
    found = _TYPE.fullmatch(value.lower())
    if found is None:
        return None
    parameters = [p.strip() for p in found["parameters"].split(";") if p.strip()]
    return "; ".join([found["type"], *parameters])


def essence(value: object) -> str | None:
    """The `type/subtype` of a declared media type; None if it is not one."""
    found = normalised(value)
    return found.split(";", 1)[0] if found else None


def is_media_id(value: object) -> bool:
    """Whether `value` has the shape of a media id (never a path)."""
    return isinstance(value, str) and MEDIA_ID.fullmatch(value) is not None


def _iso_media(head: bytes) -> tuple[str, ...]:
    """An ISO base media file (`ftyp` box): its major brand says which of the types first."""
    brand = head[8:12]
    if brand.startswith(b"3g"):
        return ("video/3gpp", "video/mp4", "audio/mp4")
    if brand in (b"M4A ", b"M4B "):
        return ("audio/mp4", "video/mp4", "video/3gpp")
    return _ISO_MEDIA


def _mpeg_audio(head: bytes) -> tuple[str, ...]:
    """An MPEG audio frame: layer bits 00 are AAC's ADTS, any other layer is MP3."""
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return ()
    return ("audio/aac",) if head[1] & 0x06 == 0 else ("audio/mpeg",)


def _plain_text(head: bytes) -> tuple[str, ...]:
    """text/plain for UTF-8 without binary control characters that does not open like markup."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head)  # a cut character is fine
    except UnicodeDecodeError:
        return ()
    if any(unicodedata.category(c) == "Cc" and c not in _TEXT_CONTROLS for c in text):
        return ()
    # A browser sniffs `<html`, `<svg`, `<?xml` or `<!--` as a document: that is not plain text.
    opening = text.lstrip("\ufeff \t\n\r\f")
    if opening[:1] == "<" and (opening[1:2].isalpha() or opening[1:2] in ("!", "?", "/")):
        return ()
    return ("text/plain",)


def sniffed(head: bytes) -> tuple[str, ...]:
    """The WhatsApp media types a file opening with `head` can be, likeliest first; () if none."""
    if head.startswith(b"\xff\xd8\xff"):
        return ("image/jpeg",)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ("image/png",)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ("image/webp",)
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(b"OggS"):
        return ("audio/ogg",)
    if head.startswith(b"#!AMR"):
        return ("audio/amr",)
    if head.startswith(b"ID3"):  # a tag before MP3 or AAC frames
        return ("audio/mpeg", "audio/aac")
    if head.startswith(b"ADIF"):
        return ("audio/aac",)
    if head.startswith(b"%PDF-"):
        return ("application/pdf",)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _OLE
    if head.startswith(b"PK\x03\x04"):
        return _OOXML
    return _mpeg_audio(head) or _plain_text(head)


def served_as(declared: object, head: bytes) -> tuple[str, bool]:
    """The Content-Type to serve a stored file with, and whether inline (see INLINE)."""
    # Inline only an allow-listed type its bytes agree with; anything else is a download.
    kind = essence(declared)
    if kind is None and declared is None:  # no label (a file we sent): the bytes say
        kind = next(iter(sniffed(head)), None)
    if kind in INLINE and kind in sniffed(head):
        return kind, True
    return SAFE, False


def safe_filename(name: object, fallback: str) -> str:
    """A download name from a stored (customer's) file name, or `fallback` if none is left."""
    # Its last path part, without control or direction-changing characters, the end kept.
    text = name if isinstance(name, str) else ""
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(c for c in text if not unicodedata.category(c).startswith("C"))
    text = text.strip(" .")[-150:].strip(" .")
    return text or fallback

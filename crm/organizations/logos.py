"""An uploaded logo is hostile: its type is read from its bytes (PNG, JPEG or WebP; the file's
name and the browser's content type are ignored), its size and pixel size are bounded.

Pillow is not a dependency, so the image is not decoded and re-encoded: the structure is walked
instead (a PNG's chunks with their checksums up to IEND, a JPEG's segments up to its frame
header, a WebP's RIFF length), which leaves no room for a page or script hidden after the image,
and the file is served with the type found here and `nosniff` (crm.organizations.views).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from crm.organizations.errors import InvalidLogo

MAX_BYTES = 1024 * 1024
MAX_SIDE = 4096
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers (they carry the size); C4, C8 and CC are other segments.
JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class Logo:
    """What the bytes are: the extension the server names the file with, and the pixel size."""

    extension: str
    width: int
    height: int

    @property
    def content_type(self) -> str:
        """The type the file is served with."""
        return CONTENT_TYPES[self.extension]


def inspect(data: bytes) -> Logo:
    """The logo `data` holds; InvalidLogo saying what is wrong otherwise."""
    if len(data) > MAX_BYTES:
        raise InvalidLogo(f"The logo is larger than {MAX_BYTES // 1024} KB: make it smaller.")
    for read in (_png, _jpeg, _webp):
        found = read(data)
        if found is not None:
            break
    else:
        raise InvalidLogo("The logo must be a PNG, JPEG or WebP image (whatever the file's name "
                          "says): export it as one of these.")
    if not (0 < found.width <= MAX_SIDE and 0 < found.height <= MAX_SIDE):
        raise InvalidLogo(f"The logo is {found.width}x{found.height} pixels: at most "
                          f"{MAX_SIDE}x{MAX_SIDE} is taken, scale it down.")
    return found


def _damaged(kind: str) -> InvalidLogo:
    return InvalidLogo(f"The logo starts like a {kind} image but is damaged or holds more than "
                       f"an image: save it again as a plain {kind}.")


def _png(data: bytes) -> Logo | None:
    if not data.startswith(PNG_SIGNATURE):
        return None
    position, size = len(PNG_SIGNATURE), None
    while position + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        body = data[position + 8:end - 4]
        if end > len(data) or struct.unpack(">I", data[end - 4:end])[0] != zlib.crc32(
                kind + body):
            break
        if kind == b"IHDR" and length == 13 and size is None and position == 8:
            size = struct.unpack(">II", body[:8])
        if kind == b"IEND":
            if size is None or end != len(data):
                break
            return Logo("png", *size)
        position = end
    raise _damaged("PNG")


def _jpeg(data: bytes) -> Logo | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # segments without a length
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # the image ends, or its data starts, before any frame
            break
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker in JPEG_FRAMES:
            if length < 8 or position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return Logo("jpg", width, height)
        position += 2 + length
    raise _damaged("JPEG")


def _webp(data: bytes) -> Logo | None:
    if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return None
    if len(data) < 30 or struct.unpack("<I", data[4:8])[0] + 8 != len(data):
        raise _damaged("WebP")
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return Logo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = struct.unpack("<I", data[21:25])[0]
        return Logo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        return Logo("webp", int.from_bytes(data[24:27], "little") + 1,
                    int.from_bytes(data[27:30], "little") + 1)
    raise _damaged("WebP")

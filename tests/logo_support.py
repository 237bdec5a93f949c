"""Small valid images of each accepted kind, built byte by byte (Pillow is no dependency)."""
from __future__ import annotations

import struct
import zlib


def png(width: int = 16, height: int = 8, tail: bytes = b"") -> bytes:
    """A PNG of `width` x `height` pixels, with `tail` after its end (a hidden payload)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    rows = b"".join(b"\x00" + b"\x10\x80\x40" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"") + tail)


def jpeg(width: int = 20, height: int = 10) -> bytes:
    """A JPEG's segments up to its frame header and end."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0
            + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
            + b"\xff\xd9")


def webp(width: int = 30, height: int = 12) -> bytes:
    """A lossless WebP's header (VP8L) with its size."""
    payload = b"\x2f" + struct.pack("<I", (width - 1) | ((height - 1) << 14)) + b"\x00" * 5
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body
